# Sourced by the backup CronJob scripts: every failure ends the job with ONE line in its log,
#   <job>: FAIL step=<step> tool=<program> exit=<code>: <reason>
# naming the step, the tool's exit code and its own reason, never a connection string's credentials or the password.
# The tools' chatter goes to "$work/<step>.err", not to the log: without --quiet mongo-tools print the counts the
# manifest needs and the reason of a failure ("no space left on device"), which --quiet would hide.
# Needs: JOB (the prefix) and work (a private directory).

# fd 3: the job's stdout, also from inside a step whose stdout the caller redirected into a file.
exec 3>&1
fail() { echo "$JOB: FAIL $*" >&3; exit 1; }

# redact TEXT: mongo-tools print the whole uri (with credentials) on connection errors; the password itself must
# never reach the log either.
redact() {
  local s pw=''
  s=$(printf '%s' "$1" | sed -E 's#(mongodb(\+srv)?://)[^@/[:space:]]*@#\1<credentials>@#g')
  if [ -n "${SECRET_DIR:-}" ] && [ -r "$SECRET_DIR/MONGO_INITDB_ROOT_PASSWORD" ]; then pw=$(<"$SECRET_DIR/MONGO_INITDB_ROOT_PASSWORD"); fi
  [ -z "$pw" ] || s=${s//"$pw"/<password>}
  printf '%s\n' "$s"
}

# reason CODE FILE: why a step failed, from its exit code and its stderr.
reason() {
  local code=$1 file=$2 line
  if [ "$code" -gt 128 ]; then echo "killed by SIG$(kill -l "$code")"; return; fi
  # mongo-tools end with "Failed: …", mongosh with "MongoServerError: …" (or a thrown Error); else the last line.
  line=$(grep -E 'Failed: |Error\b' "$file" | tail -n1 || true)
  [ -n "$line" ] || line=$(grep -v '^[[:space:]]*$' "$file" | tail -n1 || true)
  line=$(printf '%s' "$line" | sed -E 's/^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.+-]+\t//')
  redact "${line:-no message on stderr}"
}

# step NAME COMMAND…: runs COMMAND (stdout as the caller redirects it, stderr into "$work/NAME.err"); on failure
# prints the FAIL line and exits.
step() {
  local name=$1 code=0
  shift
  # The group: bash's own "Killed" report on a child killed by a signal lands in the file too, not in the log.
  { "$@"; } 2>"$work/$name.err" || code=$?
  [ "$code" -eq 0 ] || fail "step=$name tool=$1 exit=$code: $(reason "$code" "$work/$name.err")"
}
