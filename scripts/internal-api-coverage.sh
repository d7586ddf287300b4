#!/usr/bin/env bash
# Checks docs/internal-api.md against the code, so that the table of GP TEE Internal Core API
# functions and algorithms stays true (ctest internal_api_coverage):
#   - every TEE_ and __GP11_TEE_ function the TA dev kit declares (tee_internal_api.h,
#     tee_internal_api_extensions.h, tee_api_compat.h) is in the function table; the TA_ entry
#     points are the TA's and out of scope;
#   - every status in the table is right: "implemented" exactly when libteemu.so defines the
#     function, for the __GP11_ column too;
#   - every TEE_ / __GP11_TEE_ function libteemu.so exports is in the table;
#   - the algorithm table lists every TEE_ALG_ / __OPTEE_ALG_ identifier with a value in the dev
#     kit's tee_api_defines*.h, "supported" exactly when kAlgorithms in
#     src/ta_runtime/crypto_operation.cc has it;
#   - the "Totals:" line agrees with the tables.
# Usage: scripts/internal-api-coverage.sh [path/to/libteemu.so]   (default: build/lib/libteemu.so)
# NM selects the nm program (default: nm).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
lib=${1:-$here/build/lib/libteemu.so}
doc=$here/docs/internal-api.md
inc=$here/ta_dev_kit/include
algsrc=$here/src/ta_runtime/crypto_operation.cc
nm=${NM:-nm}
me=internal-api-coverage

for f in "$lib" "$doc" "$algsrc" "$inc/tee_internal_api.h"; do
  [[ -f $f ]] || { echo "$me: missing $f" >&2; exit 2; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Functions the dev kit declares: identifiers followed by "(" outside comments and preprocessor
# lines (tee_api_compat.h only #defines names, so it adds nothing unless it declares something).
cat "$inc/tee_internal_api.h" "$inc/tee_internal_api_extensions.h" "$inc/tee_api_compat.h" |
  awk '{
      line = $0; out = ""
      while (line != "") {
        if (incomment) {
          i = index(line, "*/"); if (i == 0) { line = ""; break }
          line = substr(line, i + 2); incomment = 0
        } else {
          i = index(line, "/*"); j = index(line, "//")
          if (j > 0 && (i == 0 || j < i)) { out = out substr(line, 1, j - 1); line = ""; break }
          if (i == 0) { out = out line; line = ""; break }
          out = out substr(line, 1, i - 1); line = substr(line, i + 2); incomment = 1
        }
      }
      if (out !~ /^[ \t]*#/) print out
    }' |
  grep -oE '\b(__GP11_)?TEE_[A-Za-z0-9_]+[[:space:]]*\(' | sed -E 's/[[:space:]]*\($//' |
  sort -u >"$work/declared"

# Functions libteemu.so defines (text, weak or indirect symbols), without symbol versions.
"$nm" -D --defined-only "$lib" >"$work/nm" || { echo "$me: $nm -D $lib failed" >&2; exit 2; }
awk '$2 ~ /^[TtWi]$/ && $3 ~ /^(__GP11_)?TEE_/ { sub(/@.*/, "", $3); print $3 }' "$work/nm" |
  sort -u >"$work/defined"

# The algorithms kAlgorithms has, and the identifiers with a value the dev kit defines.
grep -oE '^[[:space:]]*\{[[:space:]]*(TEE|__OPTEE)_ALG_[A-Z0-9_]+' "$algsrc" |
  sed -E 's/^[[:space:]]*\{[[:space:]]*//' | sort -u >"$work/alg_supported"
cat "$inc"/tee_api_defines*.h |
  awk '$1 == "#define" && $2 ~ /^(TEE|__OPTEE)_ALG_/ && $3 ~ /^0x[0-9A-Fa-f]+$/ &&
       $2 != "TEE_ALG_ILLEGAL_VALUE" { print $2, $3 }' | sort -u >"$work/alg_defined"

# The tables: "| `NAME` | status | __GP11_ status | notes |" and "| `ALG` | `value` | status | notes |".
awk -F'|' -v fn="$work/doc_functions" -v al="$work/doc_algorithms" -v tot="$work/doc_totals" '
  function trim(s) { gsub(/^[ \t]+|[ \t]+$/, "", s); return s }
  /^Totals:/ { print > tot }
  /^\|[ \t]*`/ {
    name = trim($2); gsub(/`/, "", name)
    if (name ~ /^(TEE|__OPTEE)_ALG_/) {
      value = trim($3); gsub(/`/, "", value)
      print name "\t" value "\t" trim($4) "\t" NR > al
    } else if (name ~ /^(__GP11_)?TEE_/) {
      print name "\t" trim($3) "\t" trim($4) "\t" NR > fn
    }
  }' "$doc"
touch "$work/doc_functions" "$work/doc_algorithms" "$work/doc_totals"

errors=0
fail() { echo "$me: $*" >&2; errors=$((errors + 1)); }
is_defined() { grep -qxF "$1" "$work/defined"; }
expect_status() { if is_defined "$1"; then echo implemented; else echo "not implemented"; fi; }

# Every row: a known status that matches libteemu.so; each function once.
: >"$work/documented"
while IFS=$'\t' read -r name status gp11 line; do
  if [[ $name == __GP11_* ]]; then
    fail "docs/internal-api.md:$line: list $name in the __GP11_ column of ${name#__GP11_}, not as a row"
    continue
  fi
  grep -qxF "$name" "$work/documented" && fail "docs/internal-api.md:$line: $name is listed twice"
  echo "$name" >>"$work/documented"
  want=$(expect_status "$name")
  case $status in
    implemented | "not implemented")
      [[ $status == "$want" ]] ||
        fail "docs/internal-api.md:$line: $name is '$status' here, but libteemu.so $(is_defined "$name" && echo defines || echo "does not define") it: make it '$want'" ;;
    *) fail "docs/internal-api.md:$line: $name: status '$status' is neither 'implemented' nor 'not implemented'" ;;
  esac
  case $gp11 in
    — | - | "") ;;
    implemented | "not implemented")
      echo "__GP11_$name" >>"$work/documented"
      want=$(expect_status "__GP11_$name")
      [[ $gp11 == "$want" ]] ||
        fail "docs/internal-api.md:$line: __GP11_$name is '$gp11' here, but libteemu.so $(is_defined "__GP11_$name" && echo defines || echo "does not define") it: make it '$want'" ;;
    *) fail "docs/internal-api.md:$line: $name: __GP11_ column '$gp11' is none of 'implemented', 'not implemented', '—'" ;;
  esac
done <"$work/doc_functions"
sort -u -o "$work/documented" "$work/documented"

# Every declared and every exported function is documented.
while read -r name; do
  if [[ $name == __GP11_* ]]; then
    fail "$name is declared by the TA dev kit but the __GP11_ column of ${name#__GP11_} in docs/internal-api.md does not list it"
  else
    fail "$name is declared by the TA dev kit but docs/internal-api.md does not list it"
  fi
done < <(comm -23 "$work/declared" "$work/documented")
while read -r name; do
  fail "libteemu.so exports $name but docs/internal-api.md does not list it"
done < <(comm -23 "$work/defined" "$work/documented")
# Declared but not defined: a TA calling it compiles and then fails to load. Allowed if the table
# says so, but worth saying.
while read -r name; do
  echo "$me: note: $name is declared by the TA dev kit but libteemu.so does not define it" >&2
done < <(comm -23 "$work/declared" "$work/defined")

# Algorithms.
cut -d' ' -f1 "$work/alg_defined" | sort -u >"$work/alg_names"
sort -u "$work/alg_names" "$work/alg_supported" >"$work/alg_all"
: >"$work/alg_documented"
while IFS=$'\t' read -r name value status line; do
  grep -qxF "$name" "$work/alg_documented" && fail "docs/internal-api.md:$line: $name is listed twice"
  echo "$name" >>"$work/alg_documented"
  if ! grep -qxF "$name" "$work/alg_all"; then
    fail "docs/internal-api.md:$line: $name has no value in the dev kit's tee_api_defines*.h and is not in kAlgorithms"
    continue
  fi
  defval=$(awk -v n="$name" '$1 == n { print $2 }' "$work/alg_defined")
  if [[ -n $defval && ${value,,} != "${defval,,}" ]]; then
    fail "docs/internal-api.md:$line: $name is $value here but $defval in the dev kit"
  fi
  if grep -qxF "$name" "$work/alg_supported"; then want=supported; else want="not supported"; fi
  [[ $status == "$want" ]] ||
    fail "docs/internal-api.md:$line: $name is '$status' here, but kAlgorithms $([[ $want == supported ]] && echo has || echo "does not have") it: make it '$want'"
done <"$work/doc_algorithms"
sort -u -o "$work/alg_documented" "$work/alg_documented"
while read -r name; do
  fail "algorithm $name (dev kit or kAlgorithms) is not in the algorithm table of docs/internal-api.md"
done < <(comm -23 "$work/alg_all" "$work/alg_documented")

# Totals, counted from the tables.
n_fn=$(wc -l <"$work/doc_functions")
n_impl=$(awk -F'\t' '$2 == "implemented"' "$work/doc_functions" | wc -l)
n_missing=$(awk -F'\t' '$2 == "not implemented"' "$work/doc_functions" | wc -l)
n_gp11=$(awk -F'\t' '$3 == "implemented"' "$work/doc_functions" | wc -l)
n_gp11_missing=$(awk -F'\t' '$3 == "not implemented"' "$work/doc_functions" | wc -l)
n_alg=$(awk -F'\t' '$3 == "supported"' "$work/doc_algorithms" | wc -l)
n_alg_missing=$(awk -F'\t' '$3 == "not supported"' "$work/doc_algorithms" | wc -l)
want_totals="Totals: $n_fn GP functions, $n_impl implemented, $n_missing not implemented; \`__GP11_\` variants: $n_gp11 implemented, $n_gp11_missing not implemented; algorithms: $n_alg supported, $n_alg_missing not supported."
# (Only once the rows are right: totals counted from wrong rows would be wrong too.)
if [[ $(wc -l <"$work/doc_totals") -ne 1 ]]; then
  fail "docs/internal-api.md needs exactly one line: $want_totals"
elif ((errors == 0)) && [[ $(cat "$work/doc_totals") != "$want_totals" ]]; then
  fail "docs/internal-api.md: the totals line is out of date; it should read: $want_totals"
fi

n_declared=$(wc -l <"$work/declared")
n_defined=$(wc -l <"$work/defined")
if ((errors > 0)); then
  echo "$me: FAILED: $errors problem(s); docs/internal-api.md and the code have drifted apart" >&2
  exit 1
fi
echo "$me: OK: the dev kit declares $n_declared TEE_/__GP11_TEE_ functions, libteemu.so defines" \
  "$n_defined; docs/internal-api.md lists $n_fn GP functions ($n_impl implemented, $n_missing not)," \
  "$n_gp11 + $n_gp11_missing __GP11_ variants and $((n_alg + n_alg_missing)) algorithms ($n_alg supported)"
