/* SPDX-License-Identifier: BSD-3-Clause */
/* The machine's rates for the leaf size (src/plan/wisdom.c): measured figures that are
 * plausible and saved under this machine's key; figures read back from the file, and a
 * forged file moving the leaf size the way the model says (pairs 16 times dearer: leaves half
 * as large; flops 16 times dearer: twice as large); a file of another CPU, or of garbage,
 * measured over; KIFMM_WISDOM=0 and small plans taking the table alone; plans made by
 * several threads at once measuring once and agreeing (also under ThreadSanitizer). Each case
 * has its own cache directory, since a process remembers one directory's figures. */
#define _POSIX_C_SOURCE 200809L /* setenv, mkdtemp */
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plan/wisdom.h"
#include "testutil.h"

enum { NP = 60000 }; /* sources = targets: 1.2e5 points, above KIFMM_WISDOM_MIN_POINTS */

static char base[256];

/* A new cache directory with the operator files of the first one ("measured"), so that only
 * the wisdom differs and no directory computes the operators again (minutes under valgrind). */
static void dir_for(const char *name, char *dir, size_t len) {
  snprintf(dir, len, "%s/%s", base, name);
  mkdir(dir, 0777);
  char cmd[700];
  snprintf(cmd, sizeof(cmd), "cp %s/measured/*.h5 %s/ 2>/dev/null", base, dir);
  if (strcmp(name, "measured") != 0 && system(cmd) != 0)
    printf("(no operator files copied into %s)\n", dir);
}

static void write_file(const char *dir, const char *text) {
  char path[512];
  snprintf(path, sizeof(path), "%s/wisdom.txt", dir);
  FILE *fp = fopen(path, "w");
  if (fp) {
    fputs(text, fp);
    fclose(fp);
  }
}

static int read_file(const char *dir, char *text, size_t len) {
  char path[512];
  snprintf(path, sizeof(path), "%s/wisdom.txt", dir);
  FILE *fp = fopen(path, "r");
  if (!fp)
    return 0;
  size_t n = fread(text, 1, len - 1, fp);
  text[n] = '\0';
  fclose(fp);
  return 1;
}

/* The leaf size a plan on a sphere of NP points (a surface: no level bands move it) chooses
 * with this cache directory. */
static kifmm_estimate estimate_with(const char *dir, const double *x, int n, int *status) {
  kifmm_options o = kifmm_default_options();
  snprintf(o.cache_dir, sizeof(o.cache_dir), "%s", dir);
  kifmm_estimate e;
  memset(&e, 0, sizeof(e));
  e.struct_size = (int32_t)sizeof(e);
  *status = kifmm_plan_estimate(n, x, n, x, &o, &e);
  return e;
}

static int estimate_ncrit(const char *dir, const double *x, int n, int *status) {
  return estimate_with(dir, x, n, status).ncrit;
}

/* Predicted seconds a pair and a M2L flop of an estimate. */
static double per_pair(kifmm_estimate e) { return e.t_p2p / e.p2p_pairs; }
static double per_flop(kifmm_estimate e) { return e.t_m2l / e.m2l_flops; }

static int ncrit_with(const char *dir, const double *x, int n) {
  int s, ncrit = estimate_ncrit(dir, x, n, &s);
  EXPECT(s == KIFMM_SUCCESS, "estimate: %s", kifmm_error_string(s));
  return ncrit;
}

/* This machine's key: the first field of the line the library wrote. */
static void key_of(const char *text, char *key, size_t len) {
  const char *p = strchr(text, '\n');
  p = p ? p + 1 : text;
  size_t k = 0;
  while (p[k] && p[k] != '|' && k + 1 < len)
    k++;
  memcpy(key, p, k);
  key[k] = '\0';
}

/* The tolerance holds whatever leaf size the machine's figures give: a plan at 1e-6 with the
 * forged figures of dir (leaves of ncrit points), against the direct sum at 300 targets. */
static void check_contract(const char *dir, const double *x, double factor) {
  enum { NCHECK = 300 };
  double *q = tu_alloc(NP), *pot = tu_alloc(NP), *ref = tu_alloc(NCHECK);
  uint64_t seed = 4;
  for (int i = 0; i < NP; i++)
    q[i] = tu_uniform(&seed) - 0.5;
  kifmm_options o = kifmm_default_options();
  snprintf(o.cache_dir, sizeof(o.cache_dir), "%s", dir);
  o.tolerance = 1e-6;
  kifmm_estimate est;
  memset(&est, 0, sizeof(est));
  est.struct_size = (int32_t)sizeof(est);
  setenv("KIFMM_WISDOM", "0", 1);
  EXPECT_STATUS(kifmm_plan_estimate(NP, x, NP, x, &o, &est), KIFMM_SUCCESS);
  unsetenv("KIFMM_WISDOM");
  kifmm_plan *p = NULL;
  kifmm_stats st;
  memset(&st, 0, sizeof(st));
  st.struct_size = (int32_t)sizeof(st);
  EXPECT_STATUS(kifmm_plan_create(&p, NP, x, NP, x, &o), KIFMM_SUCCESS);
  EXPECT_STATUS(p ? kifmm_evaluate(p, q, pot, NULL) : -1, KIFMM_SUCCESS);
  EXPECT_STATUS(p ? kifmm_plan_stats(p, &st) : -1, KIFMM_SUCCESS);
  kifmm_plan_destroy(&p);
  EXPECT(fabs(st.ncrit - factor * est.ncrit) <= 0.02 * factor * est.ncrit + 1,
         "%s: the plan took ncrit %d, the table %d x %.2f", dir, st.ncrit, est.ncrit, factor);
  const int stride = NP / NCHECK;
  double *y = tu_alloc(3 * NCHECK);
  for (int i = 0; i < NCHECK; i++)
    memcpy(y + 3 * i, x + 3 * (i * stride), 3 * sizeof(double));
  EXPECT_STATUS(kifmm_direct(NP, x, q, NCHECK, y, ref, NULL, 0), KIFMM_SUCCESS);
  double e = 0, n = 0;
  for (int i = 0; i < NCHECK; i++) {
    e += (pot[i * stride] - ref[i]) * (pot[i * stride] - ref[i]);
    n += ref[i] * ref[i];
  }
  e = sqrt(e / n);
  printf("  %s: ncrit %d, relative error %.2e at tolerance 1e-6\n", dir, st.ncrit, e);
  EXPECT(e <= 1e-6, "%s: error %.2e above the tolerance 1e-6 at ncrit %d", dir, e, st.ncrit);
  free(q);
  free(pot);
  free(ref);
  free(y);
}

/* Several threads' first plans with one new directory at once. */
enum { NTHREADS = 3 };
typedef struct {
  const char *dir;
  const double *x;
  int ncrit, status;
} job;

static void *estimate_job(void *arg) {
  job *j = arg;
  j->ncrit = estimate_ncrit(j->dir, j->x, NP, &j->status); /* checked by the main thread */
  return NULL;
}

static void check_threads(const double *x, const char *key) {
  char dir[300], text[4096];
  dir_for("threads", dir, sizeof(dir));
  pthread_t th[NTHREADS];
  job jobs[NTHREADS];
  for (int i = 0; i < NTHREADS; i++) {
    jobs[i] = (job){dir, x, -1, -1};
    EXPECT(pthread_create(&th[i], NULL, estimate_job, &jobs[i]) == 0, "pthread_create");
  }
  for (int i = 0; i < NTHREADS; i++)
    pthread_join(th[i], NULL);
  for (int i = 0; i < NTHREADS; i++)
    EXPECT(jobs[i].status == KIFMM_SUCCESS, "thread %d: %s", i,
           kifmm_error_string(jobs[i].status));
  for (int i = 1; i < NTHREADS; i++)
    EXPECT(jobs[i].ncrit == jobs[0].ncrit, "thread %d chose ncrit %d, thread 0 %d", i,
           jobs[i].ncrit, jobs[0].ncrit);
  int lines = 0;
  if (read_file(dir, text, sizeof(text)))
    for (const char *p = strstr(text, key); p; p = strstr(p + 1, key))
      lines++;
  EXPECT(lines == 1, "%d lines of this machine's key after %d threads", lines, NTHREADS);
}

int main(int argc, char **argv) {
  /* "quick": without the two evaluations at 1e-6, whose operators each directory computes
   * afresh (minutes under valgrind) */
  const int quick = argc > 1 && strcmp(argv[1], "quick") == 0;
  snprintf(base, sizeof(base), "/tmp/kifmm-test-wisdom-%ld", (long)getpid());
  mkdir(base, 0777);
  unsetenv("KIFMM_WISDOM");
  double *x = tu_alloc(3 * NP);
  uint64_t seed = 9;
  tu_points(TU_SPHERE, NP, &seed, x);

  /* measured: plausible figures, saved with this machine's key */
  char dir[300], text[4096], key[300];
  dir_for("measured", dir, sizeof(dir));
  int n_measured = ncrit_with(dir, x, NP);
  EXPECT(read_file(dir, text, sizeof(text)), "no wisdom.txt written in %s", dir);
  key_of(text, key, sizeof(key));
  double pair = 0, gemm = 0;
  const char *line = strstr(text, key);
  EXPECT(line && sscanf(line + strlen(key), "|%lf|%lf", &pair, &gemm) == 2,
         "no figures in: %s", text);
  printf("this machine: %s\n  %.4f ns a pair, %.2f GFlop/s dense, factor %.3f, ncrit %d\n", key,
         pair, gemm, kifmm__wisdom_factor((kifmm_wisdom){pair, gemm}), n_measured);
  EXPECT(pair > 0 && gemm > 0 && isfinite(pair) && isfinite(gemm), "figures %g %g", pair, gemm);
  EXPECT(strstr(key, KIFMM_VERSION_STRING) != NULL, "key %s lacks the version", key);

  /* the table alone: KIFMM_WISDOM=0, or a plan under KIFMM_WISDOM_MIN_POINTS */
  dir_for("off", dir, sizeof(dir));
  setenv("KIFMM_WISDOM", "0", 1);
  int n_table = ncrit_with(dir, x, NP), st;
  const kifmm_estimate e_table = estimate_with(dir, x, NP, &st);
  unsetenv("KIFMM_WISDOM");
  EXPECT(!read_file(dir, text, sizeof(text)), "KIFMM_WISDOM=0 measured and wrote a file");

  /* forged figures of this machine's key: the table's machine's (factor 1), pairs 16 times
   * dearer (1/4, clamped to 1/2) and flops 16 times dearer (4, clamped to 2) */
  const kifmm_wisdom ref = kifmm__wisdom_reference();
  const struct {
    const char *name;
    double pair, gemm, factor;
  } forged[3] = {{"same", 1, 1, 1.0}, {"pairs", 16, 1, 0.5}, {"flops", 1, 1.0 / 16, 2.0}};
  for (int k = 0; k < 3; k++) {
    dir_for(forged[k].name, dir, sizeof(dir));
    char body[600];
    snprintf(body, sizeof(body), "# forged\n%s|%.17g|%.17g\n", key,
             ref.pair_ns * forged[k].pair, ref.gemm_gflops * forged[k].gemm);
    write_file(dir, body);
    int n = ncrit_with(dir, x, NP);
    double want = n_table * forged[k].factor;
    /* the dry run's times follow the figures: a pair and a flop cost the forged multiples of
     * the table machine's */
    kifmm_estimate e = estimate_with(dir, x, NP, &st);
    double rp = per_pair(e) / per_pair(e_table), rf = per_flop(e) / per_flop(e_table);
    EXPECT(fabs(rp / forged[k].pair - 1) < 1e-9 && fabs(rf * forged[k].gemm - 1) < 1e-9,
           "%s: predicted time a pair %.3g and a flop %.3g times the table's, not %g and %g",
           forged[k].name, rp, rf, forged[k].pair, 1 / forged[k].gemm);
    EXPECT(fabs(n - want) <= 0.02 * want + 1, "%s: ncrit %d, want %.0f (table %d x %.2f)",
           forged[k].name, n, want, n_table, forged[k].factor);
    if (forged[k].factor != 1.0 && !quick)
      check_contract(dir, x, forged[k].factor);
  }

  /* another CPU's line stays, as does another path's; ours is measured and added; of this
   * machine's lines under other builds (oldest first) the three newest stay, so that
   * installed versions sharing the directory keep theirs, and the oldest goes */
  dir_for("other", dir, sizeof(dir));
  const char *machine = strchr(key, ' '), *path_end = machine ? strchr(machine + 1, ' ') : NULL;
  char stale[4][700], other_path[700];
  for (int b = 0; b < 4; b++)
    snprintf(stale[b], sizeof(stale[b]), "0.0.1/oldcode%c%s|5|5\n", 'A' + b,
             machine ? machine : "");
  snprintf(other_path, sizeof(other_path), "%.*s someotherpath%s|6|6\n",
           (int)(machine ? machine - key : 0), key, path_end ? path_end : "");
  char body0[4400];
  snprintf(body0, sizeof(body0), "%s0.0.0.1 avx2 SomeVendor 1 2 3 Another CPU|5|5\n%s%s%s%s",
           stale[0], stale[1], stale[2], other_path, stale[3]);
  write_file(dir, body0);
  ncrit_with(dir, x, NP);
  EXPECT(read_file(dir, text, sizeof(text)) && strstr(text, "Another CPU|5|5") &&
             strstr(text, key) && strstr(text, "someotherpath") && !strstr(text, "oldcodeA") &&
             strstr(text, "oldcodeB") && strstr(text, "oldcodeC") && strstr(text, "oldcodeD"),
         "other lines kept, ours added, the oldest build's gone? %s", text);

  /* garbage: measured over */
  dir_for("garbage", dir, sizeof(dir));
  char body[600];
  snprintf(body, sizeof(body), "%s|nan|-3\n\x01\x02 not a wisdom file", key);
  write_file(dir, body);
  ncrit_with(dir, x, NP);
  EXPECT(read_file(dir, text, sizeof(text)) && !strstr(text, "|nan|") && strstr(text, key),
         "garbage not replaced: %s", text);

  check_threads(x, key);

  /* a small plan: the table's size whatever the file says */
  const int small = KIFMM_WISDOM_MIN_POINTS / 4;
  dir_for("pairs", dir, sizeof(dir));
  int n_small = ncrit_with(dir, x, small);
  setenv("KIFMM_WISDOM", "off", 1);
  int n_small_table = ncrit_with(dir, x, small);
  unsetenv("KIFMM_WISDOM");
  EXPECT(n_small == n_small_table, "a plan of %d points took ncrit %d, the table's is %d",
         2 * small, n_small, n_small_table);
  free(x);
  char cmd[320];
  snprintf(cmd, sizeof(cmd), "rm -rf %s", base);
  if (system(cmd) != 0)
    printf("could not remove %s\n", base);
  return tu_finish("test_wisdom");
}
