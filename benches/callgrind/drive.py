"""Walks `njia serve` over one keep-alive connection: the agencies walk by a returning citizen
(as `benches/load.rs` does), with `landrates` the land-rates walk by new citizens, or with
`paid` the land-rates walk to the payment by a returning citizen (sandbox mode). On the
national catalogue, `catalogue` is the agencies walk in Kiswahili and `search` the load bench's
search walk (home, 6, a query of the file `$NJIA_SEARCHES`, its service's row: END), and
`control` the load bench's control walk (the same hops with a plain menu hop for the search:
home, 6, 0 back to home, the code of the first service home offers: END).

`drive.py PORT wait N` instead waits until the server has sent N receipt SMS (its `/metrics`)."""
import http.client
import os
import sys
import time
import urllib.parse

port = int(sys.argv[1])
conn = http.client.HTTPConnection("127.0.0.1", port)

if sys.argv[2] == "wait":
    want, sent = int(sys.argv[3]), -1
    for _ in range(6000):
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
        line = next((l for l in text.splitlines() if l.startswith('njia_sms_sent_total{result="accepted"}')), "x 0")
        sent = int(float(line.split()[-1]))
        if sent >= want:
            sys.exit(0)
        time.sleep(0.1)
    sys.exit(f"only {sent} of {want} receipts were sent")

walks, run = int(sys.argv[2]), sys.argv[3]
walk = sys.argv[4] if len(sys.argv) > 4 else "agencies"


def hop(sid, text, phone):
    body = urllib.parse.urlencode(
        {"sessionId": sid, "phoneNumber": phone, "networkCode": "63902", "serviceCode": "*384#", "text": text}
    )
    conn.request("POST", "/ussd/africastalking", body, {"Content-Type": "application/x-www-form-urlencoded"})
    return conn.getresponse().read().decode()


parcels = ["KAJIADO/1234", "NAIROBI/BLOCK82/1234", "MOMBASA/MN/5678"]
if walk == "bare":
    walk = "agencies"
# Each citizen's language is chosen once, in the warm-up, which `run.sh` walks uncounted; so are
# the search walk's probes below: the counted run walks only its walks.
language = {"agencies": ("+254711000111", "2"), "paid": ("+254711000222", "1")}
for w in ("catalogue", "search", "control"):
    # Kiswahili, as the load bench's catalogue walks.
    language[w] = ("+254711000333", "1")
if run == "warm" and walk in language:
    phone, choice = language[walk]
    hop(f"{run}-lang", "", phone)
    hop(f"{run}-lang", choice, phone)
searches = []
if walk == "search":
    # Each query with the row its service has in the results, found as the load bench does,
    # once: the warm-up finds them and keeps them beside the queries for the counted run.
    rows_file = os.environ["NJIA_SEARCHES"] + ".rows"
    if os.path.exists(rows_file):
        with open(rows_file, encoding="utf-8") as f:
            searches = [tuple(line.rstrip("\n").split("\t")) for line in f]
    else:
        with open(os.environ["NJIA_SEARCHES"], encoding="utf-8") as f:
            for i, line in enumerate(f):
                query, name = line.rstrip("\n").split("\t")
                hop(f"{run}-probe-{i}", "", "+254711000333")
                hop(f"{run}-probe-{i}", "6", "+254711000333")
                shown = hop(f"{run}-probe-{i}", f"6*{query}", "+254711000333")
                rows = [l.split(". ", 1)[0] for l in shown.splitlines() if l.split(". ", 1)[-1] == name]
                if rows:
                    searches.append((query, rows[0]))
        with open(rows_file, "w", encoding="utf-8") as f:
            f.writelines(f"{q}\t{r}\n" for q, r in searches)
    assert len(searches) >= 8, searches
for w in range(walks):
    sid = f"{run}-{w}"
    if walk == "agencies":
        texts, phone, last = ["", "5", "5*98", "5*98*98", "5*98*98*12"], "+254711000111", "END "
    elif walk == "catalogue":
        # Row 12 of the catalogue's agencies is a menu, not an END (any answer, as the load bench).
        texts, phone, last = ["", "5", "5*98", "5*98*98", "5*98*98*12"], "+254711000333", ""
    elif walk == "search":
        query, row = searches[w % len(searches)]
        texts, phone, last = ["", "6", f"6*{query}", f"6*{query}*{row}"], "+254711000333", "END "
    elif walk == "control":
        home = hop(sid, "", "+254711000333")
        code = next(n for n, _, _ in (l.partition(". ") for l in home.splitlines()) if len(n) >= 3 and n.isdigit())
        texts, phone, last = ["6", "6*0", f"6*0*{code}"], "+254711000333", "END "
    elif walk == "paid":
        texts, phone, last = ["", "1", "1*KAJIADO/1234", "1*KAJIADO/1234*1"], "+254711000222", "END Ombi NJ-"
    else:
        p = parcels[w % 3]
        # A new number every walk, and other numbers in the warm-up than in the counted run.
        prefix = 10 if run == "warm" else 11
        texts, phone, last = ["", "2", "2*1", f"2*1*{p}", f"2*1*{p}*2"], f"+2547{prefix}{w:06}", "END Cancelled"
    cut = int(os.environ.get("NJIA_HOPS", "0")) if run != "warm" else 0
    if cut:
        texts = texts[: cut - (walk == "control")]
    for text in texts:
        reply = hop(sid, text, phone)
    if not cut:
        assert reply.startswith(last), reply
