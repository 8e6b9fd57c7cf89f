/* SPDX-License-Identifier: BSD-3-Clause */
/* kifmm-bench: N random sources and N separate random targets, one plan and one (or more)
 * evaluations, errors against a direct sum on K sampled targets; prints one JSON line.
 * --kernel laplace|yukawa|stokes picks the kernel: random charges in [-0.5, 0.5) for Laplace
 * and Yukawa, random forces (3 components each in [-0.5, 0.5)) for Stokes.
 * Under mpirun -n R each rank generates and evaluates its own block of the same global point
 * set; rank 0 prints the line (times of the slowest rank, memory of the largest). */
#include <limits.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "kifmm.h"
#include "kifmm_mpi.h"

typedef struct {
  int64_t n;
  const char *dist;
  kifmm_options opts;
  int64_t check;
  int repeat;
  uint64_t seed;
  int nvec;     /* --nvec V: also time kifmm_evaluate_many(V) against V kifmm_evaluate calls */
  int pot_only; /* --pot-only 1: the same comparison without gradient as well */
  int sdim, vdim; /* densities per source and values per target of the kernel (1 or 3) */
} bench_args;

static const char *const KERNEL_NAMES[] = {"laplace", "yukawa", "stokes"};

/* Value number c of the splitmix64 stream started at seed. Indexed rather than sequential so
 * that a rank generates its block without the values before it, and the global point set
 * (identical to the sequential stream's) does not depend on the number of ranks. */
static double uniform(uint64_t seed, uint64_t c) {
  uint64_t z = seed + (c + 1) * 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return (double)(z >> 11) * 0x1.0p-53;
}

/* Random values each point takes from the stream. */
static uint64_t per_point(const char *dist) { return strcmp(dist, "sphere") == 0 ? 2 : 3; }

/* Points [off, off + cnt) of a set whose values start at value number base of the stream. */
static void points(const char *dist, uint64_t seed, uint64_t base, int64_t off, int64_t cnt,
                   double *xyz) {
  uint64_t k = per_point(dist);
  for (int64_t j = 0; j < cnt; j++) {
    int64_t i = off + j;
    uint64_t c = base + k * (uint64_t)i;
    double *p = xyz + 3 * j;
    if (strcmp(dist, "sphere") == 0) {
      double z = 2 * uniform(seed, c) - 1;
      double phi = 2 * 3.14159265358979323846 * uniform(seed, c + 1);
      double r = sqrt(1 - z * z);
      p[0] = 0.5 + 0.5 * r * cos(phi);
      p[1] = 0.5 + 0.5 * r * sin(phi);
      p[2] = 0.5 + 0.5 * z;
    } else if (strcmp(dist, "tight") == 0 && i % 20 != 0) {
      /* 95 % of the points in a cube of side 1e-9: trees 30+ levels deep */
      for (int d = 0; d < 3; d++)
        p[d] = 0.3 + 1e-9 * uniform(seed, c + (uint64_t)d);
    } else {
      for (int d = 0; d < 3; d++)
        p[d] = uniform(seed, c + (uint64_t)d);
    }
  }
}

static int usage(void) {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank == 0) /* once, not once per rank */
    fprintf(stderr,
            "usage: kifmm-bench [--n N] [--dist cube|sphere|tight] [--order p] [--ncrit c]\n"
            "                   [--threads t] [--check K] [--repeat r] [--tol x] [--eps e]\n"
            "                   [--seed s] [--nvec V [--pot-only 1] [--plan-nvec P]]\n"
            "                   [--kernel laplace|yukawa|stokes] [--kappa K] [--viscosity MU]\n"
            "  --tol: options.compression_tol; --eps: options.tolerance (the plan picks the order)\n"
            "  --kappa: Yukawa screening (default 1); --viscosity: Stokes mu (default 1)\n"
            "       under mpirun -n R each rank takes its block of the same points\n");
  return 2;
}

static int parse(int argc, char **argv, bench_args *a) {
  a->n = 100000;
  a->dist = "cube";
  a->opts = kifmm_default_options();
  a->check = 1000;
  a->repeat = 1;
  a->seed = 42;
  a->nvec = 0;
  a->pot_only = 0;
  double kappa = 1, viscosity = 1;
  int has_kappa = 0, has_viscosity = 0;
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
    else if (!strcmp(k, "--eps"))
      a->opts.tolerance = atof(v);
    else if (!strcmp(k, "--seed"))
      a->seed = (uint64_t)atoll(v);
    else if (!strcmp(k, "--nvec"))
      a->nvec = atoi(v);
    else if (!strcmp(k, "--pot-only"))
      a->pot_only = atoi(v);
    else if (!strcmp(k, "--plan-nvec")) /* options.nvec: the plan's tuning hint */
      a->opts.nvec = atoi(v);
    else if (!strcmp(k, "--kernel")) {
      int found = -1;
      for (int j = 0; j < 3; j++)
        if (!strcmp(v, KERNEL_NAMES[j]))
          found = j;
      if (found < 0)
        return usage();
      a->opts.kernel = found;
    } else if (!strcmp(k, "--kappa"))
      kappa = atof(v), has_kappa = 1;
    else if (!strcmp(k, "--viscosity"))
      viscosity = atof(v), has_viscosity = 1;
    else
      return usage();
    i++;
  }
  if (strcmp(a->dist, "cube") && strcmp(a->dist, "sphere") && strcmp(a->dist, "tight"))
    return usage();
  if (a->nvec > 0 && a->opts.kernel != KIFMM_KERNEL_LAPLACE) /* --nvec: charges only */
    return usage();
  if ((has_kappa && a->opts.kernel != KIFMM_KERNEL_YUKAWA) ||
      (has_viscosity && a->opts.kernel != KIFMM_KERNEL_STOKES))
    return usage();
  a->opts.kernel_param = a->opts.kernel == KIFMM_KERNEL_YUKAWA   ? kappa
                         : a->opts.kernel == KIFMM_KERNEL_STOKES ? viscosity
                                                                 : 0.0;
  if (kifmm_kernel_dims(a->opts.kernel, &a->sdim, &a->vdim) != KIFMM_SUCCESS)
    return usage();
  /* sampled rows travel in one message of (3 + 4 V) K doubles */
  if (a->check < 0 || a->check > INT_MAX / (3 + 4 * a->vdim))
    return usage();
  return 0;
}

/* JSON has no NaN: a missing value (no check, or 0/0) is null. */
/* The CPU's model name (Linux: /proc/cpuinfo), printable and without quotes, so that a JSON
 * line names the machine its figures come from; "unknown" elsewhere. */
static void cpu_model(char *buf, size_t len) {
  snprintf(buf, len, "unknown");
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (!f)
    return;
  char line[512];
  while (fgets(line, sizeof(line), f)) {
    const char *colon = strchr(line, ':');
    if (strncmp(line, "model name", 10) != 0 || !colon)
      continue;
    const char *v = colon + 1;
    while (*v == ' ' || *v == '\t')
      v++;
    size_t k = 0;
    for (; *v && *v != '\n' && k + 1 < len; v++)
      if (*v >= ' ' && *v != '"' && *v != '\\' && *v < 127)
        buf[k++] = *v;
    buf[k] = '\0';
    break;
  }
  fclose(f);
}

static void json_number(double v, char *buf, size_t len) {
  if (isfinite(v))
    snprintf(buf, len, "%.3e", v);
  else
    snprintf(buf, len, "null");
}

/* This rank's block of n items: the first n % size ranks hold one more. */
static void block(int64_t n, int size, int rank, int64_t *off, int64_t *cnt) {
  int64_t base = n / size, extra = n % size;
  *cnt = base + (rank < extra);
  *off = rank * base + (rank < extra ? rank : extra);
}

/* This rank's share of the problem: sources and targets [off, off + cnt) of the global sets. */
typedef struct {
  int64_t off, cnt;
  double *src, *trg, *q, *pot, *grad;
} share;

static int all_ok(int local_ok) {
  int ok = 0;
  MPI_Allreduce(&local_ok, &ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  return ok;
}

/* Direct sums of the Yukawa and Stokes kernels (kifmm.h's table) at nt targets y over ns
 * sources x with densities q (sdim per source): pot[V t + i] and grad[3 V t + 3 i + l] with V
 * the values per target. Pairs at distance 0 are skipped. Each target's sum runs in long
 * double, so its rounding stays far below the tolerances checked. kifmm_direct serves
 * Laplace. */
static void direct_kernel(int32_t kernel, double param, int64_t ns, const double *x,
                          const double *q, int64_t nt, const double *y, double *pot,
                          double *grad, int threads) {
  const double inv4pi = 0.25 / 3.14159265358979323846;
  const int stokes = kernel == KIFMM_KERNEL_STOKES, v = stokes ? 3 : 1;
  const double c = stokes ? inv4pi / (2 * param) : inv4pi;
#pragma omp parallel for schedule(dynamic, 4) num_threads(threads > 0 ? threads : 1)
  for (int64_t t = 0; t < nt; t++) {
    long double u[3] = {0, 0, 0}, g[9] = {0, 0, 0, 0, 0, 0, 0, 0, 0};
    for (int64_t j = 0; j < ns; j++) {
      double r[3] = {y[3 * t] - x[3 * j], y[3 * t + 1] - x[3 * j + 1],
                     y[3 * t + 2] - x[3 * j + 2]};
      double r2 = r[0] * r[0] + r[1] * r[1] + r[2] * r[2];
      if (r2 == 0)
        continue;
      double rn = sqrt(r2), ir = 1 / rn, ir3 = ir * ir * ir;
      if (!stokes) { /* Yukawa: e^{-k r} / r, gradient -(1 + k r) e^{-k r} r / r^3 */
        double e = exp(-param * rn), d = -q[j] * e * (1 + param * rn) * ir3;
        u[0] += q[j] * e * ir;
        for (int l = 0; l < 3; l++)
          g[l] += d * r[l];
      } else { /* Stokes: u_i = f_i / r + r_i (r.f) / r^3 */
        const double *f = q + 3 * j;
        double rf = r[0] * f[0] + r[1] * f[1] + r[2] * f[2], ir5 = ir3 * ir * ir;
        for (int i = 0; i < 3; i++) {
          u[i] += f[i] * ir + r[i] * rf * ir3;
          for (int l = 0; l < 3; l++) /* d u_i / d y_l */
            g[3 * i + l] += (-f[i] * r[l] + (i == l ? rf : 0.0) + r[i] * f[l]) * ir3 -
                            3 * r[i] * r[l] * rf * ir5;
        }
      }
    }
    for (int i = 0; i < v; i++)
      pot[v * t + i] = c * (double)u[i];
    for (int i = 0; i < 3 * v; i++)
      grad[3 * v * t + i] = c * (double)g[i];
  }
}

/* Relative l2 errors of values and gradients (all components) on `check` evenly spaced
 * targets. No rank holds every source: the sampled targets and their results are summed into
 * every rank (zeros where it does not own them), each rank adds its own sources' direct sum,
 * and the sums are added. */
static int sampled_errors(const bench_args *a, const share *s, double *err_pot,
                          double *err_grad) {
  const int64_t v = a->vdim, w = 3 + 4 * v; /* row: x y z, V values, 3 V gradients */
  int64_t m = a->check < a->n ? a->check : a->n, stride = a->n / (m > 0 ? m : 1);
  double *y = calloc((size_t)(w * m), sizeof(double)), *t = malloc(sizeof(double) * 3 * m),
         *d = calloc((size_t)(4 * v * m), sizeof(double));
  int status = y && t && d ? KIFMM_SUCCESS : KIFMM_ERR_OUT_OF_MEMORY;
  if (!all_ok(status == KIFMM_SUCCESS)) {
    free(y), free(t), free(d);
    return KIFMM_ERR_OUT_OF_MEMORY;
  }
  for (int64_t i = 0; i < m; i++) {
    int64_t j = i * stride - s->off;
    if (j < 0 || j >= s->cnt)
      continue;
    memcpy(y + w * i, s->trg + 3 * j, 3 * sizeof(double));
    memcpy(y + w * i + 3, s->pot + v * j, (size_t)v * sizeof(double));
    memcpy(y + w * i + 3 + v, s->grad + 3 * v * j, (size_t)(3 * v) * sizeof(double));
  }
  MPI_Allreduce(MPI_IN_PLACE, y, (int)(w * m), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  for (int64_t i = 0; i < m; i++)
    memcpy(t + 3 * i, y + w * i, 3 * sizeof(double));
  if (s->cnt > 0 && a->opts.kernel == KIFMM_KERNEL_LAPLACE)
    status = kifmm_direct(s->cnt, s->src, s->q, m, t, d, d + m, a->opts.num_threads);
  else if (s->cnt > 0)
    direct_kernel(a->opts.kernel, a->opts.kernel_param, s->cnt, s->src, s->q, m, t, d,
                  d + v * m, a->opts.num_threads);
  MPI_Allreduce(MPI_IN_PLACE, &status, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Allreduce(MPI_IN_PLACE, d, (int)(4 * v * m), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  double ep = 0, np = 0, eg = 0, ng = 0, *p = d, *g = d + v * m;
  for (int64_t i = 0; i < m; i++) {
    const double *r = y + w * i;
    for (int64_t k = 0; k < v; k++) {
      ep += (r[3 + k] - p[v * i + k]) * (r[3 + k] - p[v * i + k]);
      np += p[v * i + k] * p[v * i + k];
    }
    for (int64_t k = 0; k < 3 * v; k++) {
      eg += (r[3 + v + k] - g[3 * v * i + k]) * (r[3 + v + k] - g[3 * v * i + k]);
      ng += g[3 * v * i + k] * g[3 * v * i + k];
    }
  }
  *err_pot = sqrt(ep / np);
  *err_grad = sqrt(eg / ng);
  free(y), free(t), free(d);
  return status;
}

static void share_free(share *s) {
  free(s->src), free(s->trg), free(s->q), free(s->pot), free(s->grad);
}

/* The global set: sources, then targets, then charges, one after the other in the stream. */
static int make_share(const bench_args *a, int size, int rank, share *s) {
  block(a->n, size, rank, &s->off, &s->cnt);
  size_t c = (size_t)s->cnt + 1; /* never malloc(0): a rank may own nothing */
  size_t sd = (size_t)a->sdim, vd = (size_t)a->vdim;
  s->src = malloc(sizeof(double) * 3 * c), s->trg = malloc(sizeof(double) * 3 * c);
  s->q = malloc(sizeof(double) * sd * c), s->pot = malloc(sizeof(double) * vd * c);
  s->grad = malloc(sizeof(double) * 3 * vd * c);
  if (!all_ok(s->src && s->trg && s->q && s->pot && s->grad))
    return KIFMM_ERR_OUT_OF_MEMORY;
  uint64_t per_set = per_point(a->dist) * (uint64_t)a->n;
  points(a->dist, a->seed, 0, s->off, s->cnt, s->src);
  points(a->dist, a->seed, per_set, s->off, s->cnt, s->trg);
  /* density component k of source i: value 2 * per_set + sdim * i + k (Laplace's charges as
   * before the kernels came) */
  for (int64_t j = 0; j < a->sdim * s->cnt; j++)
    s->q[j] = uniform(a->seed, 2 * per_set + (uint64_t)(a->sdim * s->off + j)) - 0.5;
  return KIFMM_SUCCESS;
}

/* One rank keeps kifmm_plan_create, so its numbers stay those of the one-process library. */
static int create_plan(kifmm_plan **plan, const bench_args *a, int size, const share *s) {
  if (size == 1)
    return kifmm_plan_create(plan, s->cnt, s->src, s->cnt, s->trg, &a->opts);
  return kifmm_plan_create_mpi(plan, MPI_COMM_WORLD, s->cnt, s->src, s->cnt, s->trg, &a->opts);
}

/* What the JSON line reports, the largest over the ranks: the slowest rank's times, the
 * deepest and largest local tree, the largest plan and peak resident memory. */
enum { T_TREE, T_LISTS, T_OPS, T_P2M, T_M2M, T_M2L, T_L2L, T_L2P, T_P2P, T_M2P, T_P2L, T_EVAL,
       T_TOTAL, PLAN_MB, RSS_MB, NMAX };

static void largest_over_ranks(const kifmm_stats *st, double v[NMAX], int64_t tree[3]) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  const double mine[NMAX] = {st->t_tree, st->t_lists, st->t_operators, st->t_p2m, st->t_m2m,
                             st->t_m2l, st->t_l2l, st->t_l2p, st->t_p2p, st->t_m2p, st->t_p2l,
                             st->t_evaluate, st->t_tree + st->t_lists + st->t_evaluate,
                             st->bytes / 1048576.0, ru.ru_maxrss / 1024.0};
  MPI_Reduce(mine, v, NMAX, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
  const int64_t t[3] = {st->nboxes, st->nleaves, st->depth};
  MPI_Reduce(t, tree, 3, MPI_INT64_T, MPI_MAX, 0, MPI_COMM_WORLD);
}

/* Fields of distributed runs (collective; the text on rank 0): the most bytes a rank sent and
 * received in the last evaluation, the longest wait for messages and partition. One-rank
 * lines keep exactly their old fields. */
static void mpi_fields(int size, const kifmm_stats *st, char *out, size_t len) {
  out[0] = '\0';
  if (size == 1)
    return;
  double mine[4] = {(double)st->bytes_sent, (double)st->bytes_received, st->t_comm_wait,
                    st->t_partition}, v[4];
  MPI_Reduce(mine, v, 4, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
  snprintf(out, len,
           ", \"ranks\": %d, \"bytes_sent_max\": %.0f, \"bytes_received_max\": %.0f, "
           "\"comm_wait\": %.4f, \"partition\": %.4f",
           size, v[0], v[1], v[2], v[3]);
}

static void print_json(const bench_args *a, const kifmm_stats *st, const double v[NMAX],
                       const int64_t tree[3], double err_pot, double err_grad,
                       const char *ranks, const char *nvec_json) {
  char ep[32], eg[32], cpu[128];
  json_number(err_pot, ep, sizeof(ep));
  cpu_model(cpu, sizeof(cpu));
  json_number(err_grad, eg, sizeof(eg));
  printf("{\"n\": %lld, \"dist\": \"%s\", \"order\": %d, \"ncrit\": %d, \"threads\": %d, "
         "\"boxes\": %lld, \"leaves\": %lld, \"depth\": %d, \"m2l_rank\": %d, "
         "\"m2l_max_rank\": %d, \"tree\": %.4f, \"lists\": %.4f, \"operators\": %.4f, "
         "\"p2m\": %.4f, \"m2m\": %.4f, \"m2l\": %.4f, \"l2l\": %.4f, \"l2p\": %.4f, "
         "\"p2p\": %.4f, \"m2p\": %.4f, \"p2l\": %.4f, \"evaluate\": %.4f, \"total\": %.4f, "
         "\"plan_mb\": %.1f, \"peak_rss_mb\": %.1f, \"err_pot\": %s, \"err_grad\": %s, "
         "\"simd\": \"%s\", \"cpu\": \"%s\", \"near_precision\": %d, \"near_symmetric\": %d, "
         "\"blas_core\": \"%s\", \"tolerance\": %.3e, "
         "\"compression_tol\": %.3e, \"kernel\": \"%s\", \"kernel_param\": %.6g%s%s}\n",
         (long long)a->n, a->dist, st->order, st->ncrit, a->opts.num_threads,
         (long long)tree[0], (long long)tree[1], (int)tree[2], st->m2l_rank, st->m2l_max_rank,
         v[T_TREE], v[T_LISTS], v[T_OPS], v[T_P2M], v[T_M2M], v[T_M2L], v[T_L2L], v[T_L2P],
         v[T_P2P], v[T_M2P], v[T_P2L], v[T_EVAL], v[T_TOTAL], v[PLAN_MB], v[RSS_MB], ep, eg,
         st->simd, cpu, st->near_precision, st->near_symmetric, st->blas_core, st->tolerance, st->compression_tol,
         KERNEL_NAMES[a->opts.kernel], a->opts.kernel_param, ranks, nvec_json);
  fflush(stdout);
}

/* ---- --nvec: several charge vectors in one call against one call each ---- */

/* Seconds of the slowest rank for one kifmm_evaluate_many(nv) (many = 1) or nv single calls
 * on the plan; vector v's charges at q + v * cnt. */
static int time_vectors(kifmm_plan *plan, int many, int nv, int64_t cnt, const double *q,
                        double *pot, double *grad, double seconds[3]) {
  MPI_Barrier(MPI_COMM_WORLD);
  double t0 = MPI_Wtime(), mine[3] = {0, 0, 0}; /* whole, M2L, P2P */
  int status = KIFMM_SUCCESS;
  kifmm_stats st;
  for (int v = 0; v < (many ? 1 : nv) && status == KIFMM_SUCCESS; v++) {
    if (many)
      status = kifmm_evaluate_many(plan, nv, q, pot, grad);
    else
      status = kifmm_evaluate(plan, q + v * cnt, pot + v * cnt, grad ? grad + 3 * v * cnt : NULL);
    kifmm_plan_stats(plan, &st);
    mine[1] += st.t_m2l;
    mine[2] += st.t_p2p;
  }
  mine[0] = MPI_Wtime() - t0;
  MPI_Allreduce(mine, seconds, 3, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  return status;
}

/* t_many, t_singles and their ratio (with gradient, and without with --pot-only 1), and the
 * plan's bytes before the first many-vector call, as JSON fields. The modes alternate for
 * NVEC_ROUNDS rounds and each keeps its fastest, so that a load change on a shared machine
 * does not fall on one mode only. */
enum { NVEC_ROUNDS = 2 };

static int compare_nvec(const bench_args *a, kifmm_plan *plan, const share *s, char *json,
                        size_t len) {
  const int nv = a->nvec;
  const int64_t cnt = s->cnt;
  kifmm_stats st;
  kifmm_plan_stats(plan, &st);
  double mb_before = st.bytes / 1048576.0, mb_max = 0;
  MPI_Allreduce(&mb_before, &mb_max, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  double *q = malloc(sizeof(double) * (size_t)(nv * cnt + 1));
  double *pot = malloc(sizeof(double) * (size_t)(nv * cnt + 1));
  double *grad = malloc(sizeof(double) * (size_t)(3 * nv * cnt + 1));
  int status = all_ok(q && pot && grad) ? KIFMM_SUCCESS : KIFMM_ERR_OUT_OF_MEMORY;
  for (int64_t i = 0; status == KIFMM_SUCCESS && i < nv * cnt; i++) /* vector 0: s->q */
    q[i] = i < cnt ? s->q[i] : uniform(a->seed + (uint64_t)(i / cnt), (uint64_t)(i % cnt)) - 0.5;
  double t[4][3] = {{0}};
  for (int r = 0; r < NVEC_ROUNDS; r++)
    for (int k = 0; k < (a->pot_only ? 4 : 2) && status == KIFMM_SUCCESS; k++) {
      double tk[3];
      status = time_vectors(plan, k % 2 == 0, nv, cnt, q, pot, k < 2 ? grad : NULL, tk);
      if (r == 0 || tk[0] < t[k][0])
        memcpy(t[k], tk, sizeof(tk));
    }
  kifmm_plan_stats(plan, &st);
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double mb_after[2] = {st.bytes / 1048576.0, ru.ru_maxrss / 1024.0};
  MPI_Allreduce(MPI_IN_PLACE, mb_after, 2, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  char pot_fields[160] = "";
  if (a->pot_only)
    snprintf(pot_fields, sizeof(pot_fields),
             ", \"t_many_pot\": %.4f, \"t_singles_pot\": %.4f, \"ratio_pot\": %.3f", t[2][0],
             t[3][0], t[2][0] / t[3][0]);
  snprintf(json, len,
           ", \"nvec\": %d, \"plan_nvec\": %d, \"t_many\": %.4f, \"t_singles\": %.4f, "
           "\"ratio\": %.3f, \"m2l_many\": %.4f, \"m2l_singles\": %.4f, \"p2p_many\": %.4f, "
           "\"p2p_singles\": %.4f%s, \"plan_mb_nvec1\": %.1f, \"plan_mb_many\": %.1f, \"peak_rss_mb_many\": %.1f",
           nv, a->opts.nvec, t[0][0], t[1][0], t[0][0] / t[1][0], t[0][1], t[1][1], t[0][2],
           t[1][2], pot_fields, mb_max, mb_after[0], mb_after[1]);
  free(q), free(pot), free(grad);
  return status;
}

static int run(const bench_args *a, int size, int rank) {
  share s = {0};
  int status = make_share(a, size, rank, &s);
  kifmm_plan *plan = NULL;
  if (status == KIFMM_SUCCESS)
    status = create_plan(&plan, a, size, &s);
  for (int r = 0; status == KIFMM_SUCCESS && r < a->repeat; r++)
    status = kifmm_evaluate(plan, s.q, s.pot, s.grad);
  double err_pot = NAN, err_grad = NAN;
  if (status == KIFMM_SUCCESS && a->check > 0)
    status = sampled_errors(a, &s, &err_pot, &err_grad);
  if (status == KIFMM_SUCCESS) {
    kifmm_stats st; /* of the evaluations above, before any --nvec comparison */
    kifmm_plan_stats(plan, &st);
    double v[NMAX];
    int64_t tree[3];
    largest_over_ranks(&st, v, tree);
    char ranks[256];
    mpi_fields(size, &st, ranks, sizeof(ranks));
    char nvec_json[768] = "";
    if (a->nvec > 0)
      status = compare_nvec(a, plan, &s, nvec_json, sizeof(nvec_json));
    if (rank == 0 && status == KIFMM_SUCCESS)
      print_json(a, &st, v, tree, err_pot, err_grad, ranks, nvec_json);
  } else if (rank == 0) {
    fprintf(stderr, "kifmm-bench: %s\n", kifmm_error_string(status));
  }
  if (plan)
    kifmm_plan_destroy(&plan);
  share_free(&s);
  return status == KIFMM_SUCCESS ? 0 : 1;
}

int main(int argc, char **argv) {
  if (MPI_Init(&argc, &argv) != MPI_SUCCESS) {
    fprintf(stderr, "kifmm-bench: MPI_Init failed\n");
    return 1;
  }
  int size = 1, rank = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  bench_args a;
  int rc = parse(argc, argv, &a) ? 2 : run(&a, size, rank);
  MPI_Finalize();
  return rc;
}
