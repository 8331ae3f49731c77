#!/usr/bin/env python3
"""Registry notifications for scripts/bench-events.sh: posts distribution's envelopes to
Berth's /registry/events the way the registry does (one batch at a time, Bearer secret).

  bench_events.py URL SECRET tags REPOSITORY COUNT           COUNT tags pushed (t0, t1, ...)
  bench_events.py URL SECRET pulls REPOSITORY COUNT PREFIX   COUNT manifest GETs of tag t0,
      each from its own client, ids PREFIX-0..; prints events/s; run it again with the same
      PREFIX to replay every event
  bench_events.py URL SECRET stream REPOSITORY SECONDS        pull events for SECONDS, 2,000 a second
"""
import json
import sys
import time
import urllib.request

BATCH = 100
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DIGEST = "sha256:" + "ab" * 32


def post(url, secret, events):
    body = json.dumps({"events": events}).encode()
    req = urllib.request.Request(url + "/registry/events", data=body, method="POST")
    req.add_header("Content-Type", "application/vnd.docker.distribution.events.v1+json")
    req.add_header("Authorization", "Bearer " + secret)
    with urllib.request.urlopen(req, timeout=30) as res:
        if res.status != 200:
            sys.exit(f"/registry/events answered {res.status}")


def event(eid, action, repository, tag, n, method="GET"):
    return {
        "id": eid,
        # the registry's clock when the request was made, as it writes it
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000000000Z", time.gmtime()),
        "action": action,
        "target": {"mediaType": MANIFEST, "digest": DIGEST, "size": 400, "length": 400, "repository": repository, "tag": tag},
        "request": {"addr": f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}:40000", "useragent": "bench", "method": method},
        "actor": {"name": repository.split("/")[0]},
    }


def send(url, secret, events):
    for i in range(0, len(events), BATCH):
        post(url, secret, events[i:i + BATCH])


def main():
    url, secret, what, repository = sys.argv[1:5]
    if what == "tags":
        count = int(sys.argv[5])
        send(url, secret, [event(f"push-{repository}-{i}", "push", repository, f"t{i}", i, "PUT") for i in range(count)])
    elif what == "pulls":
        count, prefix = int(sys.argv[5]), sys.argv[6]
        events = [event(f"{prefix}-{i}", "pull", repository, "t0", i) for i in range(count)]
        started = time.monotonic()
        send(url, secret, events)
        elapsed = time.monotonic() - started
        print(f"{count / elapsed:.0f} {elapsed:.3f}")
    elif what == "stream":
        # at RATE events a second (the ingestion target), not as fast as the CPU allows: the
        # question is what recording them costs /token, not what a saturated CPU does
        rate = 2000
        started = time.monotonic()
        until, n = started + float(sys.argv[5]), 0
        while time.monotonic() < until:
            send(url, secret, [event(f"stream-{n + i}", "pull", repository, "t0", n + i) for i in range(BATCH)])
            n += BATCH
            ahead = started + n / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
        print(n)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
