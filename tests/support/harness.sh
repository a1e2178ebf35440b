# Sourced by the end-to-end shell tests: what each used to define for itself.
#   free_port       a free TCP port on 127.0.0.1 (the kernel's pick; never a default port)
#   fail MESSAGE    says FAIL: MESSAGE on stderr, with the tail of each file in $fail_logs (an
#                   array the caller may set: server logs), and exits 1
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
fail() {
    echo "FAIL: $*" >&2
    local log
    for log in "${fail_logs[@]:-}"; do
        [ -n "$log" ] && [ -f "$log" ] && { echo "--- tail of $log" >&2; tail -20 "$log" >&2; }
    done
    exit 1
}
