"""The bills of a run and the floor they are held against, from its counts and the list prices."""

from __future__ import annotations

from bench import bill


def bill_of(e2e: dict, prices: dict, cold_start: dict) -> dict:
    """The bills (happy path, under load, a day's mix) by service, each with the INIT phases at the
    stated cold-start rate; the floor they are held against; and the INIT at three rates, with
    what SnapStart would charge instead."""
    init = bill.init_seconds(cold_start)
    floor_init = cold_start["baselineMs"] / 1000

    def bill_at(per_order: dict, rate: float = bill.COLD_START_RATE) -> dict:
        return bill.bill(per_order, prices, init=init, cold_start_rate=rate)

    happy, day = bill_at(e2e["perOrder"]), bill_at(e2e["perOrderMixed"])
    loaded = bill_at(bill.at_unloaded_durations(e2e["perOrderLoaded"], e2e["perOrder"]))
    lines = bill.floor(e2e["perOrder"], prices, floor_init)
    floor_total = sum(line.dollars for line in lines)
    cold_starts = []
    for rate in bill.COLD_START_RATES:
        at_rate = bill_at(e2e["perOrder"], rate)
        floor_at = sum(line.dollars for line in bill.floor(e2e["perOrder"], prices, floor_init, rate))
        restores, _ = bill.snapstart(e2e["perOrder"], prices, rate)
        cold_starts.append(
            {
                "rate": rate,
                "init": round(at_rate["Lambda INIT"], 2),
                "initThrottled": round(
                    bill.lambda_init(e2e["perOrder"], init, prices, rate, throttled=True)[1] * bill.MILLION, 2
                ),
                "platformHappy": round(bill.platform_total(at_rate), 2),
                "ratioHappy": round(bill.platform_total(at_rate) / floor_at, 2),
                "snapStartRestores": round(restores * bill.MILLION, 2),
            }
        )
    return {
        "prices": prices["asOf"],
        "coldStartRate": bill.COLD_START_RATE,
        "coldStarts": cold_starts,
        "snapStartCacheMonth": round(bill.snapstart(e2e["perOrder"], prices)[1], 2),
        "snapStartBreakEvenSeconds": round(bill.snapstart_break_even_seconds(prices), 1),
        "happy": {k: round(v, 2) for k, v in happy.items()},
        "loaded": {k: round(v, 2) for k, v in loaded.items()},
        "mixed": {k: round(v, 2) for k, v in day.items()},
        "platformHappy": round(bill.platform_total(happy), 2),
        "platformLoaded": round(bill.platform_total(loaded), 2),
        "platformMixed": round(bill.platform_total(day), 2),
        "floor": [
            {
                "service": line.service,
                "count": round(line.count, 3),
                "unit": line.unit,
                "dollars": round(line.dollars, 2),
                "why": line.why,
            }
            for line in lines
        ],
        "floorTotal": round(floor_total, 2),
        "ratioHappy": round(bill.platform_total(happy) / floor_total, 2),
        "ratioLoaded": round(bill.platform_total(loaded) / floor_total, 2),
        "ratioMixed": round(bill.platform_total(day) / floor_total, 2),
        "lambdaGbSecondsHappy": round(bill.lambda_compute(e2e["perOrder"], prices)[0], 4),
    }
