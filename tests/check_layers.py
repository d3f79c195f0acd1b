"""The one-way dependency rule of the workspace, checked from `cargo metadata`.

Layers, lowest first, by the folder a crate lives in:

    proto/            0  the shared vocabulary: names, records, clock
    storage-tiers/    1  logs, the remote tier, the chunk cache, the tiered log
    control-plane/    2  metadata, replication, coordinators
    services/         3  the Kafka listener and the binary

A crate may depend on crates of its own layer or lower ones, never higher; and only the
crates listed in WIRE_CODEC may use `kafka-protocol` (the broker speaks the wire
protocol; the log uses its record-batch codec; the binary's admin and perf clients).
Run by tests/run.sh; exits non-zero and names every offending edge.

    python3 tests/check_layers.py
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LAYERS = {"proto": 0, "storage-tiers": 1, "control-plane": 2, "services": 3}
WIRE_CODEC = {"strata-log", "strata-broker", "strata"}


def main() -> int:
    meta = json.loads(subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps", "--offline"],
        cwd=REPO, check=True, capture_output=True, text=True).stdout)
    members = set(meta["workspace_members"])
    layer_of: dict[str, tuple[int, str]] = {}
    for pkg in meta["packages"]:
        if pkg["id"] not in members:
            continue
        rel = Path(pkg["manifest_path"]).resolve().parent.relative_to(REPO)
        top = rel.parts[0]
        if top not in LAYERS:
            print(f"{pkg['name']}: {rel} is in no layer folder ({', '.join(LAYERS)})")
            return 1
        layer_of[pkg["name"]] = (LAYERS[top], str(rel))
    bad = []
    for pkg in meta["packages"]:
        if pkg["name"] not in layer_of:
            continue
        mine, where = layer_of[pkg["name"]]
        for dep in pkg["dependencies"]:
            name = dep["name"]
            if name in layer_of and layer_of[name][0] > mine:
                bad.append(f"{pkg['name']} ({where}) depends on {name} ({layer_of[name][1]}), "
                           f"a higher layer")
            if name == "kafka-protocol" and pkg["name"] not in WIRE_CODEC:
                bad.append(f"{pkg['name']} ({where}) uses kafka-protocol; only "
                           f"{', '.join(sorted(WIRE_CODEC))} may")
    for b in bad:
        print(b)
    if not bad:
        print(f"layers: {len(layer_of)} crates, every dependency points down or sideways")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
