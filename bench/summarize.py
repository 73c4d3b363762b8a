# Reads the SAMPLE/RESULT/BYTES lines that bench/build/harness and bench/ort_bench.py print (over several
# alternating rounds) and prints one table: medians, achieved bandwidth and ratios to OpenBLAS and ORT.
"""Usage: python3 bench/summarize.py RUN_OUTPUT.txt [--markdown]

Per (contender, batch, threads, mode) the median is taken over every sample of every round. Columns:
GB/s = weight bytes per call / median (the bytes a batch-1 layer must stream; for an artifact its library
size at that batch (BYTES lines per label and batch), which bounds its weights from above); '% read' = that rate against the STREAM-like read
probe at the same thread count (batch 1, cold only); 'vs BLAS' = OpenBLAS median / median (above 1 = faster than OpenBLAS);
'vs ORT' = the faster ORT fp32 model's median / median (ORT int8 rows are listed, not used as the baseline).
"""

import statistics
import sys
from collections import defaultdict


def main() -> int:
    arguments = [a for a in sys.argv[1:] if not a.startswith("--")]
    markdown = "--markdown" in sys.argv
    if len(arguments) != 1:
        print(__doc__, file=sys.stderr)
        return 1
    samples = defaultdict(list)
    stream = defaultdict(list)
    weight_bytes = {}
    with open(arguments[0], encoding="utf-8") as file:
        for line in file:
            fields = line.rstrip("\n").split("\t")
            if fields[0] == "SAMPLE" and len(fields) == 6:
                samples[(fields[1], int(fields[2]), int(fields[3]), fields[4])].append(float(fields[5]))
            elif fields[0] == "RESULT" and len(fields) == 7 and fields[1] == "stream-read":
                stream[int(fields[3])].append(float(fields[6]))
            elif fields[0] == "BYTES" and len(fields) == 3:  # one size for the label at every batch (ORT, BLAS)
                weight_bytes[(fields[1], None)] = float(fields[2])
            elif fields[0] == "BYTES" and len(fields) == 4:  # per label and batch (artifacts of different batches)
                weight_bytes[(fields[1], int(fields[2]) if fields[2].lstrip("-").isdigit() else 0)] = float(fields[3])
    if not samples:
        print("summarize: error: no SAMPLE lines in " + arguments[0], file=sys.stderr)
        return 1
    medians = {key: statistics.median(values) for key, values in samples.items()}
    read_rate = {threads: statistics.median(rates) for threads, rates in stream.items()}

    def baseline(prefix: str, batch: int, threads: int, mode: str):
        found = [m for (label, b, t, md), m in medians.items()
                 if label.startswith(prefix) and (b, t, md) == (batch, threads, mode)]
        return min(found) if found else None

    header = ["contender", "batch", "threads", "mode", "median ms", "p10 ms", "p90 ms", "samples", "GB/s",
              "% read", "vs BLAS", "vs ORT"]
    rows = []
    order = sorted(medians, key=lambda k: (k[2], k[1], k[3] != "cold", not k[0].startswith("openblas"),
                                          not k[0].startswith("ort"), k[0]))
    for key in order:
        label, batch, threads, mode = key
        values = sorted(samples[key])
        middle = medians[key]
        size = weight_bytes.get((label, batch), weight_bytes.get((label, None)))
        rate = size / middle / 1e9 if size else None
        blas = baseline("openblas", batch, threads, mode)
        ort = baseline("ort-fp32", batch, threads, mode)
        rows.append([
            label, str(batch) if batch > 0 else "model", str(threads), mode, f"{middle * 1e3:.3f}",
            f"{values[round(0.1 * (len(values) - 1))] * 1e3:.3f}", f"{values[round(0.9 * (len(values) - 1))] * 1e3:.3f}",
            str(len(values)), f"{rate:.1f}" if rate else "-",
            f"{100 * rate / read_rate[threads]:.0f}%" if rate and batch == 1 and mode == "cold" and threads in read_rate else "-",
            f"{blas / middle:.2f}x" if blas else "-", f"{ort / middle:.2f}x" if ort else "-",
        ])
    for threads, rate in sorted(read_rate.items()):
        rows.append(["stream-read", "-", str(threads), "cold", "-", "-", "-", str(len(stream[threads])),
                     f"{rate:.1f}", "100%", "-", "-"])
    if markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|")
        for row in rows:
            print("| " + " | ".join(row) + " |")
    else:
        widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
        for row in [header] + rows:
            print("  ".join(cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
