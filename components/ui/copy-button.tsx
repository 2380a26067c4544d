"use client";
import { toast } from "sonner";
import { Button } from "./button";

/** Copies text to the clipboard; without the clipboard API (plain http on a LAN address), through a hidden selection. */
export async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    const ok = document.execCommand("copy");
    area.remove();
    return ok;
  }
}

/** A "Copy" button; `label` gives it a distinct accessible name when several are on screen. */
export function CopyButton({ text, label, className = "" }: { text: string; label?: string; className?: string }) {
  return (
    <Button
      type="button"
      variant="secondary"
      aria-label={label}
      className={`shrink-0 ${className}`}
      onClick={async () => {
        if (await copyText(text)) toast.success("Copied");
        else toast.error("Could not copy; select the text instead");
      }}
    >
      Copy
    </Button>
  );
}
