#!/usr/bin/python3
"""report.py: assembles the rounds tools/bench/bench.sh ran into one JSON document (bench/results.json)
and prints one table: each figure's median over the rounds with min and max beside it, the
ratios between cases, and the notes. Exits 1 when any case failed in any round."""

import argparse
import datetime
import json
import os
import platform
import statistics
import sys


def read_tsv(path, fields):
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) == fields:
                rows.append(parts)
    return rows


def spread(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "rounds": values}


def last_line(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = [l.strip() for l in f if l.strip()]
    except OSError:
        return ""
    return lines[-1] if lines else ""


# Figures that may be 0 in a sound round: a hash in memory kept between hashes spends no
# system time (tools/bench/bench_hash.c).
ZERO_OK = {"cpu_sys_ms"}


def read_round(out, index, rnd):
    """One round of one case: its JSON object, or the reason it has none."""
    base = os.path.join(out, "%d.%d" % (index, rnd))
    status = last_line(base + ".status") or "not run"
    if status != "ok":
        return None, "%s: %s" % (status, last_line(base + ".err") or "no message")
    try:
        with open(base + ".json", encoding="utf-8") as f:
            obj = json.loads(f.read())
    except (OSError, ValueError) as e:
        return None, "unreadable output: %s" % e
    figures = obj.get("figures") if isinstance(obj, dict) else None
    if not isinstance(figures, dict) or not figures:
        return None, "no figures in the output"
    for k, v in figures.items():
        number = isinstance(v, (int, float)) and not isinstance(v, bool)
        if not number or v < 0 or (v == 0 and k not in ZERO_OK):
            return None, "figure %s is %r, not a number > 0%s" % (
                k, v, " (or 0)" if k in ZERO_OK else "")
    return obj, None


def assemble_case(out, index, name, maxrounds, note, args, rounds):
    """The case's rounds (it ran in the first maxrounds of them, 0: all); objs has one entry
    per round of the run, None where it did not run or failed."""
    ran = rounds if int(maxrounds) == 0 else min(rounds, int(maxrounds))
    case = {"name": name, "scenario": args.split()[0], "note": note, "args": args.split(),
            "rounds": ran, "ok": True, "errors": [], "figures": {}, "counts": []}
    objs = []
    for rnd in range(1, rounds + 1):
        if rnd > ran:
            objs.append(None)
            continue
        obj, err = read_round(out, index, rnd)
        if err:
            case["ok"] = False
            case["errors"].append("round %d: %s" % (rnd, err))
            objs.append(None)
            continue
        objs.append(obj)
        case["unit"] = obj.get("unit", "")
        case["params"] = obj.get("params", {})
        case["counts"].append(obj.get("counts", {}))
    good = [o for o in objs if o]
    if good:
        for key in good[0]["figures"]:
            case["figures"][key] = spread([o["figures"][key] for o in good if key in o["figures"]])
    return case, objs


def ratio_term(term, per_case, rnd):
    """A CASE:FIGURE term's value in round rnd, or a plain number; None when missing."""
    if ":" not in term:
        return float(term)
    name, fig = term.rsplit(":", 1)
    objs = per_case.get(name)
    if not objs or objs[rnd] is None:
        return None
    return objs[rnd]["figures"].get(fig)


def assemble_ratio(row, per_case, rounds):
    """A ratio's median, min and max over the rounds; None when a case it needs was not run
    (BENCH_ONLY)."""
    name, num, den, target, note = row
    for term in (num, den):
        if ":" in term and term.rsplit(":", 1)[0] not in per_case:
            return None
    values = []
    for rnd in range(rounds):
        a, b = ratio_term(num, per_case, rnd), ratio_term(den, per_case, rnd)
        if a is not None and b:
            values.append(a / b)
    at_most = target.startswith("<=")
    ratio = {"name": name, "numerator": num, "denominator": den, "note": note,
             "target": None if target == "-" else float(target.lstrip("<=")),
             "target_kind": "at most" if at_most else "at least"}
    if values:
        ratio.update(spread(values))
        if ratio["target"] is not None:
            ratio["met"] = (ratio["median"] <= ratio["target"] if at_most
                            else ratio["median"] >= ratio["target"])
    return ratio


def machine(load_before):
    model = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
        with open("/proc/loadavg", encoding="utf-8") as f:
            load_after = " ".join(f.read().split()[:3])
    except OSError:
        load_after = ""
    return {"cpus": os.cpu_count(), "cpu_model": model, "kernel": platform.release(),
            "load_before": load_before, "load_after": load_after}


def num(v):
    if v >= 100:
        return "%.0f" % v
    if v >= 10:
        return "%.1f" % v
    if v >= 1:
        return "%.2f" % v
    return "%.3f" % v


def med(fig):
    return "%s [%s..%s]" % (num(fig["median"]), num(fig["min"]), num(fig["max"]))


# What the worker scenarios read from /proc over their clock's span: (figure, column title).
USAGE = [("peak_threads", "threads at peak"), ("switches_per_command", "switches/command"),
         ("cpu_ms_per_command", "worker CPU ms/cmd"),
         ("pg_cpu_ms_per_command", "PostgreSQL CPU ms/cmd")]


def print_usage(doc, out):
    """A second table: per command, what the worker(s) and PostgreSQL used."""
    rows = [c for c in doc["cases"] if c["ok"] and any(k in c["figures"] for k, _ in USAGE)]
    if not rows:
        return
    out.write("\n%-22s %-2s %s\n" % ("worker use", "n",
                                      " ".join("%-24s" % t for _, t in USAGE).rstrip()))
    for c in rows:
        f = c["figures"]
        out.write("%-22s %-2d %s\n" % (c["name"], c["rounds"], " ".join(
            "%-24s" % (med(f[k]) if k in f else "-") for k, _ in USAGE).rstrip()))
    out.write("(from /proc over the clock's span: the workers' threads, their context switches "
              "(voluntary + involuntary) and CPU (user + system) per command; PostgreSQL's CPU: "
              "its postmaster and all its children, the round having the server to itself)\n")


def print_table(doc, out):
    m = doc["machine"]
    busy = float(m["load_before"].split()[0] or 0) > 0.5 * (m["cpus"] or 1)
    out.write("tmprov-bench %s: %d round%s%s, %s CPUs (%s), load average %s before, %s after%s\n"
              % (doc["version"], doc["rounds"], "" if doc["rounds"] == 1 else "s",
                 ", SMOKE (tiny runs: not figures to quote)" if doc["smoke"] else "",
                 m["cpus"], m["cpu_model"], m["load_before"].split()[0],
                 (m["load_after"].split() or ["?"])[0],
                 " - the machine was busy: expect noise" if busy else ""))
    out.write("figures: median [min..max] over the rounds\n\n")
    out.write("%-22s %-2s %-24s %-11s %-20s %-20s %s\n" % (
        "case", "n", "rate", "unit", "p50 ms", "p99 ms", "peak RSS MiB"))
    for c in doc["cases"]:
        if not c["ok"]:
            out.write("%-22s FAILED %s\n" % (c["name"], "; ".join(c["errors"])))
            continue
        f = c["figures"]
        out.write("%-22s %-2d %-24s %-11s %-20s %-20s %s\n"
                  % (c["name"], c["rounds"], med(f["rate"]), c.get("unit", ""),
                     med(f["p50_ms"]) if "p50_ms" in f else "-",
                     med(f["p99_ms"]) if "p99_ms" in f else "-",
                     med(f["peak_rss_mib"]) if "peak_rss_mib" in f else "-"))
    print_usage(doc, out)
    if doc["ratios"]:
        out.write("\n%-34s %-26s %s\n" % ("ratio", "median [min..max]", "target"))
        for r in doc["ratios"]:
            val = med(r) if "median" in r else "- (a case failed)"
            tgt = "-" if r["target"] is None else "%s %s %s" % (
                "<=" if r["target_kind"] == "at most" else ">=", num(r["target"]),
                "met" if r.get("met") else "MISSED")
            out.write("%-34s %-26s %s\n" % (r["name"], val, tgt))
    out.write("\nnotes:\n")
    for c in doc["cases"]:
        if c["note"]:
            out.write("  %s: %s\n" % (c["name"], c["note"]))
    for r in doc["ratios"]:
        out.write("  %s = %s / %s: %s\n" % (r["name"].strip(), r["numerator"],
                                            r["denominator"], r["note"]))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cases", required=True)
    ap.add_argument("--ratios", required=True)
    ap.add_argument("--out", required=True, help="folder of N.R.json/.err/.status files")
    ap.add_argument("--rounds", type=int, required=True)
    ap.add_argument("--smoke", type=int, default=0)
    ap.add_argument("--load-before", default="")
    ap.add_argument("--version", default="")
    ap.add_argument("--results", required=True)
    a = ap.parse_args()

    cases, per_case = [], {}
    for i, (name, maxrounds, note, args) in enumerate(read_tsv(a.cases, 4), start=1):
        case, objs = assemble_case(a.out, i, name, maxrounds, note, args, a.rounds)
        cases.append(case)
        per_case[name] = objs
    ratios = [assemble_ratio(r, per_case, a.rounds) for r in read_tsv(a.ratios, 5)]
    ratios = [r for r in ratios if r is not None]
    doc = {
        "generated": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "version": a.version.replace("tmprov ", ""),
        "smoke": bool(a.smoke),
        "rounds": a.rounds,
        "machine": machine(a.load_before),
        "ok": bool(cases) and all(c["ok"] for c in cases),
        "cases": cases,
        "ratios": ratios,
    }
    tmp = a.results + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    os.replace(tmp, a.results)
    print_table(doc, sys.stdout)
    print("\nresults: %s" % a.results)
    return 0 if doc["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
