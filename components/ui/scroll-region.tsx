"use client";
import { useEffect, useRef, useState, type ReactNode } from "react";

/**
 * A frame that scrolls sideways when its content (a wide table) does not fit. While it scrolls it
 * is a named, focusable region, so keyboard users can scroll it too (axe: scrollable-region-focusable);
 * `relative` keeps absolutely positioned children (visually hidden headers) inside it, and
 * `w-0 min-w-full` keeps the table's width out of its parents' sizing (a grid or flex column would
 * otherwise grow to the table's width and push the page past the screen).
 */
export function ScrollRegion({ label, className = "", children }: { label: string; className?: string; children: ReactNode }) {
  const ref = useRef<HTMLDivElement>(null);
  const [scrollable, setScrollable] = useState(false);
  useEffect(() => {
    const frame = ref.current;
    if (!frame) return;
    const measure = () => setScrollable(frame.scrollWidth > frame.clientWidth + 1);
    measure();
    const observer = new ResizeObserver(measure);
    observer.observe(frame);
    if (frame.firstElementChild) observer.observe(frame.firstElementChild);
    return () => observer.disconnect();
  }, []);
  return (
    <div
      ref={ref}
      role="region"
      aria-label={label}
      tabIndex={scrollable ? 0 : undefined}
      data-scrollable={scrollable || undefined}
      className={`relative w-0 min-w-full overflow-x-auto focus-visible:outline focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-brand-500 ${className}`}
    >
      {children}
    </div>
  );
}
