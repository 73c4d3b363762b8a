#!/usr/bin/env python3
# onnx's checker as a long-lived process for the fuzzing campaign (Tests/SieveFuzz): reads one model path per
# line on stdin, answers "valid" or "invalid MESSAGE" on one line, as onnx.checker.check_model(path, full_check=True) judges it.
import sys

from onnx import checker

for line in sys.stdin:
    path = line.rstrip("\n")
    try:
        checker.check_model(path, full_check=True)
        answer = "valid"
    except Exception as error:  # the checker raises ValidationError, shape inference InferenceError, loading others
        answer = "invalid " + " ".join(str(error).split())
    sys.stdout.write(answer + "\n")
    sys.stdout.flush()
