/* SPDX-License-Identifier: BSD-3-Clause */
/* Equivalent and check surfaces: the 6(p-1)^2+2 points of a p x p x p lattice that lie on
 * the faces of a cube concentric with a box. */
#include "operators/operators.h"

int kifmm__surface_count(int order) { return 6 * (order - 1) * (order - 1) + 2; }

void kifmm__surface_lattice(int order, int *ijk) {
  const int p = order;
  int n = 0;
  for (int i = 0; i < p; i++)
    for (int j = 0; j < p; j++)
      for (int k = 0; k < p; k++) {
        if (i != 0 && i != p - 1 && j != 0 && j != p - 1 && k != 0 && k != p - 1)
          continue;
        ijk[3 * n] = i;
        ijk[3 * n + 1] = j;
        ijk[3 * n + 2] = k;
        n++;
      }
}

void kifmm__surface(int order, double ratio, double side, const double c[3], double *xyz) {
  const double half = 0.5 * ratio * side;
  int ijk[3 * KIFMM_MAX_SURFACE];
  kifmm__surface_lattice(order, ijk);
  for (int i = 0; i < kifmm__surface_count(order); i++)
    for (int d = 0; d < 3; d++)
      xyz[3 * i + d] = c[d] + half * (-1.0 + 2.0 * ijk[3 * i + d] / (order - 1));
}
