# What the shell tests share (sourced: `. "$(dirname "$0")/../shell_support.sh"`).

# A TCP port free on 127.0.0.1 now (the kernel's pick; another process may take it before use,
# which the tests' servers report as a bind failure).
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# run CMD...: runs it to the end whatever it exits with; sets $rc and $out (stdout and stderr).
run() { set +e; out=$("$@" 2>&1); rc=$?; set -e; }
