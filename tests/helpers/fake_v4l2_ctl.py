#!/usr/bin/python3
"""A stand-in for ``v4l2-ctl`` that replays recorded outputs.

Copied next to a ``map.json`` that says, per device node, which recording
of tests/data/v4l2 to replay (``uvc_c920``, ``h264_cam``...), or ``fail``
(cannot open the device) or ``hang`` (never answers). ``--set-ctrl`` writes
the value into ``state.json`` beside it, and later ``--all`` output shows
it, as a real device would. Every call is appended to ``calls.log``.
"""
import json
import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "v4l2")


def main(argv):
    with open(os.path.join(HERE, "calls.log"), "a") as log:
        log.write(" ".join(argv) + "\n")
    device = next((a.split("=", 1)[1] for a in argv if a.startswith("--device=")), "/dev/video0")
    with open(os.path.join(HERE, "map.json")) as f:
        recording = json.load(f).get(device)
    if recording is None or recording == "fail":
        sys.stderr.write(f"Cannot open device {device}, exiting.\n")
        return 1
    if recording == "hang":
        time.sleep(3600)
        return 1
    state_path = os.path.join(HERE, "state.json")
    state = json.load(open(state_path)) if os.path.exists(state_path) else {}
    values = state.setdefault(device, {})
    for arg in argv:
        if arg.startswith("--set-ctrl="):
            name, _, value = arg.split("=", 1)[1].partition("=")
            values[name] = int(value)
            with open(state_path + ".tmp", "w") as f:
                json.dump(state, f)
            os.replace(state_path + ".tmp", state_path)
            return 0
    if "--list-formats-ext" in argv:
        sys.stdout.write(open(os.path.join(DATA, recording + "_formats.txt")).read())
        return 0
    text = open(os.path.join(DATA, recording + "_all.txt")).read()
    for name, value in values.items():
        text = re.sub(rf"(\b{name} 0x[0-9a-f]+ \(\w+\)\s*:.*?value=)-?\d+", rf"\g<1>{value}", text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
