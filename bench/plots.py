"""The run's plots: the load curve and the bill."""

from __future__ import annotations

from pathlib import Path

from bench import bill, load
from bench.page import load_baseline


def plots(results: dict, folder: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    rows = [row for row in results["endToEnd"]["loadCurve"] if row["latencyMs"]]
    rates = [row["rate"] for row in rows]
    figure, (latency, throughput) = plt.subplots(1, 2, figsize=(10, 3.8))
    for q, color in (("p50", "#4c72b0"), ("p95", "#dd8452"), ("p99", "#c44e52")):
        latency.plot(rates, [row["latencyMs"][q] / 1000 for row in rows], marker="o", color=color, label=q)
    latency.set_yscale("log")
    latency.set_xlabel("orders a second, offered")
    latency.set_ylabel("POST -> ORDER_COMPLETED (s)")
    latency.set_title("Latency")
    latency.legend()
    throughput.plot(rates, [row["sentPerSecond"] for row in rows], marker="o", color="#8c8c8c", label="sent")
    throughput.plot(rates, [row["completedPerSecond"] for row in rows], marker="o", color="#55a868", label="completed")
    throughput.set_xlabel("orders a second, offered")
    throughput.set_ylabel("orders a second")
    throughput.set_title("Throughput")
    throughput.legend()
    saturation = load.saturation(results["endToEnd"]["loadCurve"])
    if saturation:
        for axis in (latency, throughput):
            axis.axvline(saturation, color="#8c8c8c", linestyle=":")
    figure.suptitle("Steady arrival rates on the local cloud (2 cores shared by everything)")
    figure.tight_layout()
    figure.savefig(folder / "load.png", dpi=110)
    plt.close(figure)

    cost = results["bill"]
    baseline = load_baseline()
    floor = {line["service"]: line["dollars"] for line in cost["floor"]}
    names = [n for n in cost["happy"] if n != bill.SES]
    series = ([("before", baseline["bill"]["happy"], "#c44e52")] if baseline else []) + [
        ("now, happy path", cost["happy"], "#55a868"),
        ("now, under load", cost["loaded"], "#dd8452"),
        ("now, a day's mix", cost["mixed"], "#8172b2"),
        ("floor", floor, "#4c72b0"),
    ]
    figure, axis = plt.subplots(figsize=(8, 4.8))
    height = 0.8 / len(series)
    for i, (label, values, color) in enumerate(series):
        axis.barh(
            [y + i * height for y in range(len(names))],
            [values.get(n, 0) for n in names],
            height,
            label=label,
            color=color,
        )
    axis.set_yticks([y + height * (len(series) - 1) / 2 for y in range(len(names))], names)
    axis.invert_yaxis()
    axis.set_xlabel("USD per million orders (SES apart)")
    before = f"${baseline['bill']['platformHappy']:.2f} before, " if baseline else ""
    axis.set_title(
        f"The bill per million orders: {before}${cost['platformHappy']:.2f} now, floor ${cost['floorTotal']:.2f}"
    )
    axis.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(folder / "cost.png", dpi=110)
    plt.close(figure)
