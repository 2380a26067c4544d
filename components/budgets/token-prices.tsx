import { formatTokenPrice } from "../format";

/** A catalog model's per-token prices (€ per million tokens), or that only its GPU time is charged. */
export function TokenPrices({ input, output }: { input: number; output: number }) {
  if (input === 0 && output === 0) return <span className="text-slate-500">GPU time only</span>;
  return (
    <span title="Euros per million tokens: input (prompt) and output (completion), on top of GPU time">
      {formatTokenPrice(input)} in · {formatTokenPrice(output)} out
    </span>
  );
}
