"""
The rehearsal's Lambda runtime interface client: what runs inside each function's worker.

Started as `python3.11 -I -S bootstrap.py` (isolated: no site-packages, no PYTHON* variables,
no user site), from the runtime directory, which holds only this file and what Lambda's
python3.11 runtime itself provides (boto3 and its dependencies). Like Lambda's bootstrap it
puts the task root (the unzipped package) and the runtime directory on sys.path, imports the
handler named by `_HANDLER` once (the container's init), then serves invocations one at a
time: a JSON line on stdin -> the handler's result or error as a JSON line on fd 3. Anything
the function prints (stdout, stderr, logging) is its log.

Standard library only: it must not depend on anything the package might not have.
"""

import json
import os
import sys
import time
import traceback


class Context:
    """The fields of Lambda's context object that code reads."""

    def __init__(self, request: dict):
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = request["invoked_function_arn"]
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.aws_request_id = request["request_id"]
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self._deadline = request["deadline"]

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.time()) * 1000))


def error_payload(exc: BaseException, error_type: str | None = None) -> dict:
    return {
        "errorMessage": str(exc),
        "errorType": error_type or type(exc).__name__,
        "requestId": "",
        "stackTrace": traceback.format_list(traceback.extract_tb(exc.__traceback__)),
    }


def main() -> int:
    task_root = os.environ["LAMBDA_TASK_ROOT"]
    runtime_dir = os.environ["LAMBDA_RUNTIME_DIR"]
    sys.path[:0] = [task_root, runtime_dir]
    os.chdir(task_root)
    results = os.fdopen(3, "w", buffering=1)
    # Lambda's runtime sends each line to CloudWatch as it is written.
    sys.stdout.reconfigure(line_buffering=True)
    sys.stderr.reconfigure(line_buffering=True)

    module_name, _, function_name = os.environ["_HANDLER"].rpartition(".")
    try:
        import importlib

        handler = getattr(importlib.import_module(module_name), function_name)
    except Exception as exc:  # Lambda: Runtime.ImportModuleError, the container is not kept
        traceback.print_exc()
        results.write(json.dumps({"init_error": error_payload(exc, "Runtime.ImportModuleError")}) + "\n")
        return 1
    results.write(json.dumps({"ready": True}) + "\n")

    for line in sys.stdin:
        request = json.loads(line)
        print(f"START RequestId: {request['request_id']} Version: $LATEST", flush=True)
        started = time.monotonic()
        try:
            result = handler(request["event"], Context(request))
            answer = {"result": result}
            json.dumps(answer)  # Lambda fails an answer it cannot serialize
        except Exception as exc:
            traceback.print_exc()
            answer = {"error": error_payload(exc)}
        except SystemExit as exc:  # a handler that exits kills the container, as on Lambda
            answer = {"error": error_payload(exc, "Runtime.ExitError")}
            sys.stdout.flush()
            results.write(json.dumps(answer, default=str) + "\n")
            return 1
        sys.stdout.flush()
        sys.stderr.flush()
        print(f"END RequestId: {request['request_id']}", flush=True)
        print(f"REPORT RequestId: {request['request_id']}\tDuration: {(time.monotonic() - started) * 1000:.2f} ms",
              flush=True)
        try:
            results.write(json.dumps(answer) + "\n")
        except TypeError as exc:
            results.write(json.dumps({"error": error_payload(exc, "Runtime.MarshalError")}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
