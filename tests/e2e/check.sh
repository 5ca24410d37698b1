# Assertions shared by the e2e scripts (sourced). The script sets $tmp (a
# scratch folder) and fails=0 first, and ends by reporting $fails.

check() { # check NAME EXPECTED_RC COMMAND... ; output in $tmp/out
  local name="$1" want="$2"
  shift 2
  "$@" >"$tmp/out" 2>&1
  local rc=$?
  if [[ $rc -ne $want ]]; then
    echo "FAIL $name: exit $rc, expected $want"
    sed 's/^/    /' "$tmp/out" | tail -8
    fails=$((fails + 1))
  else
    echo "ok   $name"
  fi
}

expect() { # expect NAME CONDITION...
  local name="$1"
  shift
  if "$@"; then echo "ok   $name"; else
    echo "FAIL $name"
    fails=$((fails + 1))
  fi
}

expect_in_output() { # expect_in_output NAME TEXT (a grep pattern) ; reads $tmp/out
  if grep -q -- "$2" "$tmp/out"; then echo "ok   $1"; else
    echo "FAIL $1: output lacks '$2'"
    sed 's/^/    /' "$tmp/out" | tail -8
    fails=$((fails + 1))
  fi
}
