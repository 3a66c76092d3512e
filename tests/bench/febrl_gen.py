#!/usr/bin/env python3
"""FEBRL-layout records at any size, for the batch linkage benchmark (bench_link_febrl.sh).

Usage: febrl_gen.py ORIGINALS DUPLICATES SEED OUT.csv [FEBRL_DIR]

Writes ORIGINALS people (rec-N-org) and DUPLICATES modified copies (rec-N-dup-K), in the
column layout of FEBRL's generate.py (dataset1-4 of ../shared/data/febrl): the value pools
(given names, surnames, streets, localities, suburbs with their postcode and state) are
those of the FEBRL files, with the frequencies they have there; birth dates, street
numbers and social security ids are drawn. The FEBRL files hold only a few thousand
names, far fewer than a million people have: a name is that of the pool with
probability 1/2, else the start of one pool name joined to the end of another
("tullaroop", "berry" -> "tullarry"), so that namesakes are about as rare as in a real
population. Each duplicate copies a random original and
changes 1 to 3 things, at most 2 per field, as generate.py does: a typo (insert, delete,
substitute, transpose), a missing value, a digit or month/day swap in the date, given
name and surname swapped. The same arguments always give the same file; mdm eval
--febrl-ids reads the truth from the ids.
"""
import csv
import glob
import os
import random
import sys


def pools(febrl_dir):
    cols = {k: [] for k in ("given_name", "surname", "address_1", "address_2", "suburb")}
    places = []
    for path in sorted(glob.glob(os.path.join(febrl_dir, "dataset*.csv"))):
        with open(path, newline="") as f:
            rows = csv.reader(f, skipinitialspace=True)
            head = [h.strip() for h in next(rows)]
            ix = {h: i for i, h in enumerate(head)}
            for r in rows:
                if len(r) != len(head) or "-org" not in r[0]:
                    continue
                for k in cols:
                    v = r[ix[k]].strip()
                    if v:
                        cols[k].append(v)
                sub, pc, st = r[ix["suburb"]].strip(), r[ix["postcode"]].strip(), r[ix["state"]].strip()
                if sub and pc and st:
                    places.append((sub, pc, st))
    return cols, places


LETTERS = "abcdefghijklmnopqrstuvwxyz"


def typo(rnd, v):
    if not v:
        return v
    i = rnd.randrange(len(v))
    op = rnd.randrange(4)
    if op == 0:
        return v[:i] + rnd.choice(LETTERS if v[i].isalpha() else "0123456789") + v[i:]
    if op == 1 and len(v) > 1:
        return v[:i] + v[i + 1:]
    if op == 2:
        return v[:i] + rnd.choice(LETTERS if v[i].isalpha() else "0123456789") + v[i + 1:]
    if len(v) > 1:
        i = min(i, len(v) - 2)
        return v[:i] + v[i + 1] + v[i] + v[i + 2:]
    return v


def modify(rnd, rec):
    r = list(rec)
    fields = [1, 2, 3, 4, 5, 6, 7, 9, 10]
    per = {}
    for _ in range(rnd.choice((1, 1, 2, 2, 3))):
        f = rnd.choice(fields)
        if per.get(f, 0) >= 2:
            continue
        per[f] = per.get(f, 0) + 1
        kind = rnd.random()
        if kind < 0.15:
            r[f] = ""
        elif kind < 0.22 and f in (1, 2):
            r[1], r[2] = r[2], r[1]
        elif kind < 0.32 and f == 9 and len(r[9]) == 8:
            r[9] = r[9][:4] + r[9][6:8] + r[9][4:6] if int(r[9][6:8]) <= 12 else typo(rnd, r[9])
        else:
            r[f] = typo(rnd, r[f])
    return r


def spliced(rnd, pool):
    a, b = rnd.choice(pool), rnd.choice(pool)
    if rnd.random() < 0.5 or len(a) < 3 or len(b) < 3:
        return a
    return a[:rnd.randint(2, len(a) - 1)] + b[rnd.randint(1, len(b) - 2):]


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    n_org, n_dup, seed, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    febrl_dir = sys.argv[5] if len(sys.argv) > 5 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "data", "febrl")
    cols, places = pools(febrl_dir)
    rnd = random.Random(seed)
    ssn = rnd.sample(range(1000000, 9999999), n_org)
    orgs = []
    for i in range(n_org):
        sub, pc, st = rnd.choice(places)
        y, m = rnd.randint(1910, 2009), rnd.randint(1, 12)
        d = rnd.randint(1, 30 if m in (4, 6, 9, 11) else 28 if m == 2 else 31)
        orgs.append([f"rec-{i}-org", spliced(rnd, cols["given_name"]), spliced(rnd, cols["surname"]),
                     str(rnd.randint(1, 300)), rnd.choice(cols["address_1"]),
                     rnd.choice(cols["address_2"]) if rnd.random() < 0.6 else "", sub, pc, st,
                     f"{y:04d}{m:02d}{d:02d}", str(ssn[i])])
    dups = {}
    for _ in range(n_dup):
        o = rnd.randrange(n_org)
        dups[o] = dups.get(o, 0) + 1
    rows = list(orgs)
    for o in sorted(dups):
        for k in range(dups[o]):
            r = modify(rnd, orgs[o])
            r[0] = f"rec-{o}-dup-{k}"
            rows.append(r)
    rnd.shuffle(rows)
    with open(out, "w") as f:
        f.write("rec_id, given_name, surname, street_number, address_1, address_2, suburb, "
                "postcode, state, date_of_birth, soc_sec_id\n")
        for r in rows:
            f.write(", ".join(v.replace(",", " ") for v in r) + "\n")


if __name__ == "__main__":
    main()
