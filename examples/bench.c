/* SPDX-License-Identifier: BSD-3-Clause */
/* kifmm-bench: N random sources and N separate random targets, one plan and one (or more)
 * evaluations, errors against a direct sum on K sampled targets; prints one JSON line. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "kifmm.h"

typedef struct {
  int64_t n;
  const char *dist;
  kifmm_options opts;
  int64_t check;
  int repeat;
  uint64_t seed;
} bench_args;

static double uniform(uint64_t *s) { /* splitmix64 */
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return (double)(z >> 11) * 0x1.0p-53;
}

static void points(const char *dist, int64_t n, uint64_t *seed, double *xyz) {
  for (int64_t i = 0; i < n; i++) {
    double *p = xyz + 3 * i;
    if (strcmp(dist, "sphere") == 0) {
      double z = 2 * uniform(seed) - 1, phi = 2 * 3.14159265358979323846 * uniform(seed);
      double r = sqrt(1 - z * z);
      p[0] = 0.5 + 0.5 * r * cos(phi);
      p[1] = 0.5 + 0.5 * r * sin(phi);
      p[2] = 0.5 + 0.5 * z;
    } else if (strcmp(dist, "tight") == 0 && i % 20 != 0) {
      /* 95 % of the points in a cube of side 1e-9: trees 30+ levels deep */
      for (int d = 0; d < 3; d++)
        p[d] = 0.3 + 1e-9 * uniform(seed);
    } else {
      p[0] = uniform(seed);
      p[1] = uniform(seed);
      p[2] = uniform(seed);
    }
  }
}

static int usage(void) {
  fprintf(stderr, "usage: kifmm-bench [--n N] [--dist cube|sphere|tight] [--order p] [--ncrit c]\n"
                  "                   [--threads t] [--check K] [--repeat r] [--tol x] [--seed s]\n");
  return 2;
}

static int parse(int argc, char **argv, bench_args *a) {
  a->n = 100000;
  a->dist = "cube";
  a->opts = kifmm_default_options();
  a->check = 1000;
  a->repeat = 1;
  a->seed = 42;
  for (int i = 1; i < argc; i++) {
    const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v)
      return usage();
    if (!strcmp(k, "--n"))
      a->n = (int64_t)atof(v);
    else if (!strcmp(k, "--dist"))
      a->dist = v;
    else if (!strcmp(k, "--order"))
      a->opts.order = atoi(v);
    else if (!strcmp(k, "--ncrit"))
      a->opts.ncrit = atoi(v);
    else if (!strcmp(k, "--threads"))
      a->opts.num_threads = atoi(v);
    else if (!strcmp(k, "--check"))
      a->check = atoll(v);
    else if (!strcmp(k, "--repeat"))
      a->repeat = atoi(v);
    else if (!strcmp(k, "--tol"))
      a->opts.compression_tol = atof(v);
    else if (!strcmp(k, "--seed"))
      a->seed = (uint64_t)atoll(v);
    else
      return usage();
    i++;
  }
  if (strcmp(a->dist, "cube") && strcmp(a->dist, "sphere") && strcmp(a->dist, "tight"))
    return usage();
  return 0;
}

/* JSON has no NaN: a missing value (no check, or 0/0) is null. */
static void json_number(double v, char *buf, size_t len) {
  if (isfinite(v))
    snprintf(buf, len, "%.3e", v);
  else
    snprintf(buf, len, "null");
}

/* Relative l2 errors of pot and grad on `check` evenly spaced targets. */
static void sampled_errors(const bench_args *a, const double *src, const double *q,
                           const double *trg, const double *pot, const double *grad,
                           double *err_pot, double *err_grad) {
  int64_t m = a->check < a->n ? a->check : a->n, stride = a->n / (m > 0 ? m : 1);
  double *t = malloc(sizeof(double) * 3 * m), *p = malloc(sizeof(double) * 4 * m),
         *g = p + m;
  for (int64_t i = 0; i < m; i++)
    memcpy(t + 3 * i, trg + 3 * i * stride, 3 * sizeof(double));
  kifmm_direct(a->n, src, q, m, t, p, g, a->opts.num_threads);
  double ep = 0, np = 0, eg = 0, ng = 0;
  for (int64_t i = 0; i < m; i++) {
    int64_t j = i * stride;
    ep += (pot[j] - p[i]) * (pot[j] - p[i]);
    np += p[i] * p[i];
    for (int d = 0; d < 3; d++) {
      eg += (grad[3 * j + d] - g[3 * i + d]) * (grad[3 * j + d] - g[3 * i + d]);
      ng += g[3 * i + d] * g[3 * i + d];
    }
  }
  *err_pot = sqrt(ep / np);
  *err_grad = sqrt(eg / ng);
  free(t);
  free(p);
}

int main(int argc, char **argv) {
  bench_args a;
  if (parse(argc, argv, &a))
    return 2;
  int64_t n = a.n;
  double *src = malloc(sizeof(double) * 3 * n), *trg = malloc(sizeof(double) * 3 * n),
         *q = malloc(sizeof(double) * n), *pot = malloc(sizeof(double) * n),
         *grad = malloc(sizeof(double) * 3 * n);
  if (!src || !trg || !q || !pot || !grad) {
    fprintf(stderr, "kifmm-bench: out of memory\n");
    return 1;
  }
  uint64_t seed = a.seed;
  points(a.dist, n, &seed, src);
  points(a.dist, n, &seed, trg);
  for (int64_t i = 0; i < n; i++)
    q[i] = uniform(&seed) - 0.5;
  kifmm_plan *plan = NULL;
  int s = kifmm_plan_create(&plan, n, src, n, trg, &a.opts);
  for (int r = 0; s == KIFMM_SUCCESS && r < a.repeat; r++)
    s = kifmm_evaluate(plan, q, pot, grad);
  if (s != KIFMM_SUCCESS) {
    fprintf(stderr, "kifmm-bench: %s\n", kifmm_error_string(s));
    return 1;
  }
  kifmm_stats st;
  kifmm_plan_stats(plan, &st);
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double err_pot = NAN, err_grad = NAN;
  if (a.check > 0)
    sampled_errors(&a, src, q, trg, pot, grad, &err_pot, &err_grad);
  char ep[32], eg[32];
  json_number(err_pot, ep, sizeof(ep));
  json_number(err_grad, eg, sizeof(eg));
  printf("{\"n\": %lld, \"dist\": \"%s\", \"order\": %d, \"ncrit\": %d, \"threads\": %d, "
         "\"boxes\": %lld, \"leaves\": %lld, \"depth\": %d, \"m2l_rank\": %d, "
         "\"m2l_max_rank\": %d, \"tree\": %.4f, \"lists\": %.4f, \"operators\": %.4f, "
         "\"p2m\": %.4f, \"m2m\": %.4f, \"m2l\": %.4f, \"l2l\": %.4f, \"l2p\": %.4f, "
         "\"p2p\": %.4f, \"m2p\": %.4f, \"p2l\": %.4f, \"evaluate\": %.4f, \"total\": %.4f, "
         "\"plan_mb\": %.1f, \"peak_rss_mb\": %.1f, \"err_pot\": %s, \"err_grad\": %s, "
         "\"simd\": \"%s\", \"blas_core\": \"%s\"}\n",
         (long long)n, a.dist, st.order, a.opts.ncrit, a.opts.num_threads, (long long)st.nboxes,
         (long long)st.nleaves, st.depth, st.m2l_rank, st.m2l_max_rank, st.t_tree, st.t_lists,
         st.t_operators, st.t_p2m, st.t_m2m, st.t_m2l, st.t_l2l, st.t_l2p, st.t_p2p, st.t_m2p,
         st.t_p2l, st.t_evaluate, st.t_tree + st.t_lists + st.t_evaluate, st.bytes / 1048576.0,
         ru.ru_maxrss / 1024.0, ep, eg, st.simd, st.blas_core);
  kifmm_plan_destroy(&plan);
  free(src);
  free(trg);
  free(q);
  free(pot);
  free(grad);
  return 0;
}
