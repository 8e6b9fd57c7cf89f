#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# No two library files call each other, directly or through others, and calls between the
# folders of src/ go down the layers of docs/architecture.md only. Reads the defined and
# undefined symbols of every object in the static library (nm), so it sees real calls, not
# includes. Usage: layers.sh libkifmm.a <src dir>
set -euo pipefail
lib=$1 src=$2
# folder of each object: the file's folder under src/ (basenames are unique)
declare -A folder
while read -r f; do
  b=$(basename "$f")
  [[ -n ${folder[$b.o]:-} ]] && { echo "two sources named $b"; exit 1; }
  folder[$b.o]=$(basename "$(dirname "$f")")
done < <(find "$src" -mindepth 2 -name '*.c')
# rank of each folder, top first; a call may go to the same or a larger rank
declare -A rank=([api]=0 [mpi]=1 [plan]=2 [operators]=3 [kernels]=4 [linalg]=4 [tree]=4
                 [io]=5 [util]=6)
edges=$(nm -A "$lib" 2>/dev/null | awk '
  { split($1, p, ":"); obj = p[2]
    if ($2 == "U") use[obj, $3] = 1
    else if (NF == 3 && $2 ~ /^[TDBRtdbr]$/) def[$3] = obj }
  END { for (k in use) { split(k, q, SUBSEP); o = def[q[2]]
          if (o != "" && o != q[1]) print q[1], o } }' | sort -u)
[[ -n $edges ]] || { echo "no calls found in $lib"; exit 1; }
status=0
while read -r a b; do
  fa=${folder[$a]:-} fb=${folder[$b]:-}
  [[ -n $fa && -n $fb ]] || { echo "object outside src/<folder>/: $a or $b"; status=1; continue; }
  [[ -n ${rank[$fa]:-} && -n ${rank[$fb]:-} ]] || { echo "folder without a layer: $fa or $fb"; status=1; continue; }
  # io/io.c is a public API of its own beside api/ (it reads a plan), h5util.c a helper below
  [[ $a == io.c.o ]] && continue
  if (( rank[$fb] < rank[$fa] )); then echo "upward call: $fa/$a -> $fb/$b"; status=1; fi
done <<< "$edges"
# cycles between files (transitive closure by repeated relaxation)
cyc=$(awk '{ e[$1, $2] = 1; n[$1]; n[$2] }
  END { for (k in n) for (i in n) if ((i, k) in e) for (j in n) if ((k, j) in e) e[i, j] = 1
        for (i in n) if ((i, i) in e) print i }' <<< "$edges")
if [[ -n $cyc ]]; then echo "files in a call cycle:" $cyc; status=1; fi
echo "$(wc -l <<< "$edges") calls between files checked"
exit $status
