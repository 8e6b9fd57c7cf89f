/* SPDX-License-Identifier: BSD-3-Clause */
/* Periodic example: the Madelung constants of rock salt (NaCl) and caesium chloride (CsCl)
 * from a periodic plan (docs/api.md, "Periodic cells"). A supercell of k^3 conventional
 * cubic cells of side 1 is the periodic cell; every ion's potential is phi_i = -q_i M /
 * (4 pi d), d the nearest-neighbour distance, so each ion gives M = -4 pi d phi_i / q_i.
 * Prints the constant found (mean over the ions), the known value and the largest relative
 * difference of any ion's; exit status 0 when every ion is within 1e-10.
 * Usage: madelung [k] (default 8: 4096 ions of NaCl, 1024 of CsCl). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "kifmm.h"

static const double PI = 3.14159265358979323846;

/* A crystal: nbasis ions of the conventional cell (fractional positions and charges), its
 * nearest-neighbour distance and known Madelung constant (referred to that distance). */
typedef struct {
  const char *name;
  int nbasis;
  double basis[8][3], charge[8];
  double d_nn, madelung;
} crystal;

static const crystal NACL = {"NaCl",
                             8,
                             {{0, 0, 0},
                              {0, .5, .5},
                              {.5, 0, .5},
                              {.5, .5, 0},
                              {.5, 0, 0},
                              {0, .5, 0},
                              {0, 0, .5},
                              {.5, .5, .5}},
                             {1, 1, 1, 1, -1, -1, -1, -1},
                             0.5,
                             1.747564594633182};
static const crystal CSCL = {"CsCl", 2, {{0, 0, 0}, {.5, .5, .5}}, {1, -1}, 0.8660254037844386,
                             1.762674773070988};

/* The k^3 supercell, moved off the tree's box faces (any offset gives the same sums). */
static int64_t supercell(const crystal *c, int k, double *x, double *q) {
  int64_t n = 0;
  for (int a = 0; a < k; a++)
    for (int b = 0; b < k; b++)
      for (int e = 0; e < k; e++)
        for (int s = 0; s < c->nbasis; s++, n++) {
          x[3 * n] = c->basis[s][0] + a + 0.1234;
          x[3 * n + 1] = c->basis[s][1] + b + 0.1234;
          x[3 * n + 2] = c->basis[s][2] + e + 0.1234;
          q[n] = c->charge[s];
        }
  return n;
}

/* One crystal through a periodic plan at tolerance 1e-11; returns the largest relative
 * difference to the known constant, or -1 when the library refused. */
static double madelung(const crystal *c, int k) {
  const int64_t n = (int64_t)c->nbasis * k * k * k;
  double *x = malloc(sizeof(double) * 3 * n), *q = malloc(sizeof(double) * n),
         *pot = malloc(sizeof(double) * n);
  double worst = -1;
  kifmm_options o = kifmm_default_options();
  o.periodic[0] = o.periodic[1] = o.periodic[2] = 1;
  o.cell_length = k; /* the cell [0, k)^3: ions outside it are wrapped */
  o.tolerance = 1e-11;
  kifmm_plan *plan = NULL;
  int s = x && q && pot ? KIFMM_SUCCESS : KIFMM_ERR_OUT_OF_MEMORY;
  if (s == KIFMM_SUCCESS) {
    supercell(c, k, x, q);
    s = kifmm_plan_create(&plan, n, x, n, x, &o);
  }
  if (s == KIFMM_SUCCESS)
    s = kifmm_evaluate(plan, q, pot, NULL);
  if (s == KIFMM_SUCCESS) {
    double mean = 0;
    worst = 0;
    for (int64_t i = 0; i < n; i++) {
      double m = -4 * PI * c->d_nn * pot[i] / q[i];
      mean += m / (double)n;
      worst = fmax(worst, fabs(m - c->madelung) / c->madelung);
    }
    printf("%-5s %6lld ions: Madelung constant %.15f, known %.15f, max relative difference "
           "%.2e\n",
           c->name, (long long)n, mean, c->madelung, worst);
  } else {
    fprintf(stderr, "%s: %s (%s)\n", c->name, kifmm_error_string(s), kifmm_error_detail());
  }
  kifmm_plan_destroy(&plan);
  free(x);
  free(q);
  free(pot);
  return worst;
}

int main(int argc, char **argv) {
  int k = argc > 1 ? atoi(argv[1]) : 8;
  if (k < 1 || k > 64) {
    fprintf(stderr, "usage: madelung [k], 1 <= k <= 64 conventional cells a side\n");
    return 2;
  }
  double e1 = madelung(&NACL, k), e2 = madelung(&CSCL, k);
  int ok = e1 >= 0 && e1 < 1e-10 && e2 >= 0 && e2 < 1e-10;
  printf("%s\n", ok ? "both within 1e-10" : "FAILED: a difference of 1e-10 or more");
  return ok ? 0 : 1;
}
