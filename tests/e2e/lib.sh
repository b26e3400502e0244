# tests/e2e/lib.sh - process helpers shared by the end-to-end scripts that
# start a broker and clients themselves (broker_e2e.sh, tools/sensor/sensor_e2e.sh).
# Source it; it defines functions only.

# kill_wait SIGNAL PID...: signal, wait up to KILL_GRACE_S seconds (default 3)
# for each to exit, then SIGKILL and reap it.
kill_wait() {
    local sig=$1 p i
    shift
    for p in "$@"; do kill "-$sig" "$p" 2>/dev/null || true; done
    for p in "$@"; do
        for ((i = 0; i < ${KILL_GRACE_S:-3} * 10; i++)); do
            kill -0 "$p" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
}

# wait_for FILE REGEX SECONDS [PID]: until FILE has a line matching REGEX
# (read as text even with binary bytes in it); fails after SECONDS or as soon
# as PID (if given) has exited.
wait_for() {
    local file=$1 re=$2 secs=$3 pid=${4:-} i
    for ((i = 0; i < secs * 20; i++)); do
        grep -Eaq -- "$re" "$file" 2>/dev/null && return 0
        if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
            grep -Eaq -- "$re" "$file" 2>/dev/null && return 0
            return 1
        fi
        sleep 0.05
    done
    return 1
}

# wait_pid PID SECONDS: the exit status of PID, or 124 if it is still running.
wait_pid() {
    local pid=$1 secs=$2 i rc=0
    for ((i = 0; i < secs * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && return 124
    wait "$pid" || rc=$?
    return "$rc"
}
