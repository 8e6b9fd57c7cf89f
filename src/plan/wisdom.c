/* SPDX-License-Identifier: BSD-3-Clause */
/* The machine's rates for the leaf size and the dry run's times (wisdom.h). The table of
 * best leaf sizes (costmodel.c) was measured on one CPU and SIMD path; another machine whose
 * pairs are cheaper against its dense applies wants larger leaves, and the other way round.
 * Both rates are measured here on the kernels the evaluation runs (our own direct sums and
 * dense applies, not the BLAS), single-threaded, best of several rounds, since the plan's
 * threads share the same cores the same way for both. */
#include "plan/wisdom.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/kernels.h"
#include "linalg/linalg.h"
#include "operators/opcache.h"

/* The rates of the machine the leaf-size table was fitted on (costmodel.c, best_ncrit): an
 * Intel Xeon (family 6 model 207, KVM), AVX-512 path, measured by this file, the median of
 * 5 processes on an idle host (2026-12-07; 0.559-0.599 ns, 74.8-80.7 GFlop/s). Its AVX2 path
 * measured 1.19-1.26 ns and 41.0-44.1 GFlop/s: factor 0.94. */
#define REF_PAIR_NS 0.599
#define REF_GEMM_GFLOPS 75.7
/* A digest of the timed code (src/CMakeLists.txt), so that saved figures of another build's
 * kernels are measured again. */
#ifndef KIFMM_WISDOM_CODE
#define KIFMM_WISDOM_CODE "unknown"
#endif
#define WISDOM_FILE "wisdom.txt"
#define WISDOM_KEY_MAX 640

/* ---- measuring ---- */
static uint64_t next_random(uint64_t *s) {
  *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
  return *s >> 11;
}

/* Rounds of the two measurements interleave, and each keeps its best round, so that a
 * moment of other work on the core (a round is about 1 ms) slows both or neither. */
enum { ROUNDS = 9 };

/* The sum of NS sources on NT targets with gradient, CALLS times: 2e6 pairs, about 1 ms. */
enum { NS = 512, NT = 64, CALLS = 64 };
static double time_pairs(double *b) {
  const double *sx = b, *sy = b + NS, *sz = b + 2 * NS, *q = b + 3 * NS, *t = b + 4 * NS;
  double *out = b + 4 * NS + 3 * NT;
  double t0 = kifmm__wtime();
  for (int c = 0; c < CALLS; c++)
    kifmm__p2p(KIFMM_RSQRT_FULL, NS, sx, sy, sz, q, NT, t, t + NT, t + 2 * NT, out, out + NT,
               out + 2 * NT, out + 3 * NT);
  return kifmm__wtime() - t0;
}

/* A 128 x 128 operator on 512 columns: an M2L product's shape (compressed ranks of 100-250,
 * blocks of hundreds of columns), 16.8 MFlop, about 0.2-0.4 ms. */
enum { GM = 128, GN = 512, GK = 128 };
static double time_gemm(double *g) {
  double t0 = kifmm__wtime();
  kifmm__mm(GM, GN, GK, 1.0, g, GM, g + GM * GK, GK, 0.0, g + GM * GK + GK * GN, GM);
  return kifmm__wtime() - t0;
}

static int measure(kifmm_wisdom *w) {
  double *b, *g;
  ALLOC(b, 4 * NS + 7 * NT);
  if (kifmm__calloc((void **)&g, GM * GK + GK * GN + GM * GN, sizeof(double)) != 0) {
    free(b);
    return KIFMM_ERR_OUT_OF_MEMORY;
  }
  uint64_t s = 1;
  for (int i = 0; i < 3 * NS; i++) /* coordinates in [-1, 1), unit charges */
    b[i] = (double)next_random(&s) * 0x1p-52 - 1.0;
  for (int i = 0; i < NS; i++)
    b[3 * NS + i] = 1.0;
  for (int i = 0; i < 3 * NT; i++)
    b[4 * NS + i] = (double)next_random(&s) * 0x1p-52 - 1.0;
  for (int i = 0; i < GM * GK + GK * GN; i++)
    g[i] = (double)next_random(&s) * 0x1p-53 - 0.5;
  double pairs = INFINITY, gemm = INFINITY;
  for (int r = 0; r < ROUNDS; r++) {
    pairs = fmin(pairs, time_pairs(b));
    gemm = fmin(gemm, time_gemm(g));
  }
  free(b);
  free(g);
  w->pair_ns = pairs * 1e9 / ((double)CALLS * NS * NT);
  w->gemm_gflops = 2.0 * GM * GN * GK / gemm * 1e-9;
  return KIFMM_SUCCESS;
}

/* The line after p's, NULL after the last: text files are walked line by line below. */
static const char *next_line(const char *p) {
  p = strchr(p, '\n');
  return p ? p + 1 : NULL;
}

/* ---- the key: CPU, SIMD path, library version ---- */
/* The value of field name in /proc/cpuinfo's first processor, "" if absent. */
static void cpuinfo_field(const char *text, const char *name, char *out, size_t len) {
  out[0] = '\0';
  for (const char *p = text; p && *p; p = next_line(p)) {
    size_t n = strlen(name);
    if (strncmp(p, name, n) != 0)
      continue;
    const char *v = p + n; /* the name alone, then blanks and ':' ("model", not "model name") */
    while (*v == '\t' || *v == ' ')
      v++;
    if (*v != ':')
      continue;
    v += v[1] == ' ' ? 2 : 1;
    size_t k = 0;
    while (v[k] && v[k] != '\n' && k + 1 < len)
      k++;
    memcpy(out, v, k);
    out[k] = '\0';
    return;
  }
}

/* "version/code path vendor family model stepping name": a hypervisor's generic model
 * name ("Intel(R) Xeon(R) Processor") is told apart by family, model and stepping. */
static void wisdom_key(char *key, size_t len) {
  char text[8192] = "", f[5][96];
  FILE *fp = fopen("/proc/cpuinfo", "r");
  if (fp) {
    size_t n = fread(text, 1, sizeof(text) - 1, fp);
    text[n] = '\0';
    fclose(fp);
  }
  const char *names[5] = {"vendor_id", "cpu family", "model", "stepping", "model name"};
  for (int i = 0; i < 5; i++)
    cpuinfo_field(text, names[i], f[i], sizeof(f[i]));
  snprintf(key, len, "%s/%s %s %s %s %s %s %s", KIFMM_VERSION_STRING, KIFMM_WISDOM_CODE,
           kifmm__simd_name(kifmm__simd()), f[0], f[1], f[2], f[3], f[4]);
  for (char *c = key; *c; c++) /* the file's separator and line ends stay out of it */
    if (*c == '|' || *c == '\n' || *c == '\r')
      *c = ' ';
}

/* ---- the file: one line a key, "key|pair_ns|gemm_gflops" ---- */
/* Wide enough for a run under valgrind (800 ns a pair, 0.02 GFlop/s), whose figures give a
 * factor like any machine's. */
static int plausible(kifmm_wisdom w) {
  return isfinite(w.pair_ns) && isfinite(w.gemm_gflops) && w.pair_ns > 1e-3 &&
         w.pair_ns < 1e5 && w.gemm_gflops > 1e-4 && w.gemm_gflops < 1e5;
}

/* The whole file (at most 64 KB: more is not ours) into a new string, NULL if none. */
static char *read_text(const char *path) {
  FILE *fp = fopen(path, "r");
  if (!fp)
    return NULL;
  enum { MAX = 65536 };
  char *text = malloc(MAX + 1);
  size_t n = text ? fread(text, 1, MAX, fp) : 0;
  fclose(fp);
  if (text)
    text[n] = '\0';
  return text;
}

/* The line of key in text: its rates, 1 if found and plausible. */
static int find_line(const char *text, const char *key, kifmm_wisdom *w) {
  size_t n = strlen(key);
  for (const char *p = text; p && *p; p = next_line(p))
    if (strncmp(p, key, n) == 0 && p[n] == '|') {
      kifmm_wisdom v;
      if (sscanf(p + n, "|%lf|%lf", &v.pair_ns, &v.gemm_gflops) == 2 && plausible(v)) {
        *w = v;
        return 1;
      }
    }
  return 0;
}

/* Builds whose lines a machine keeps in wisdom.txt (this one's included). */
enum { WISDOM_BUILDS_KEPT = 4 };

/* How a line of wisdom.txt (len characters at p, no newline) stands to key: of another CPU
 * or path (its text after the first blank differs), of this machine under another build (the
 * first field, version/code, differs), or key's own line. */
typedef enum { LINE_OTHER_MACHINE, LINE_OTHER_BUILD, LINE_SAME_KEY } line_kind;
static line_kind classify_line(const char *p, size_t len, const char *key) {
  const char *machine = strchr(key, ' ');
  const char *bar = memchr(p, '|', len), *sp = memchr(p, ' ', len);
  if (!machine || !bar || !sp || sp > bar || (size_t)(bar - sp) != strlen(machine) ||
      strncmp(sp, machine, (size_t)(bar - sp)) != 0)
    return LINE_OTHER_MACHINE;
  return (size_t)(bar - p) == strlen(key) && strncmp(p, key, (size_t)(bar - p)) == 0
             ? LINE_SAME_KEY
             : LINE_OTHER_BUILD;
}

/* The length of the line at p, without its newline. */
static size_t line_len(const char *p) {
  const char *end = strchr(p, '\n');
  return end ? (size_t)(end - p) : strlen(p);
}

/* The file again with key's line replaced, written beside it and renamed over it, so that a
 * reader never sees half a file; another process's writing at the same moment may win, which
 * costs a measurement later, no more. Failure to write is no error: wisdom is a cache.
 * Kept: the lines of other CPUs and paths, and of this one the WISDOM_BUILDS_KEPT - 1 newest
 * of other builds: two installed versions that share a cache directory would otherwise drop
 * each other's line and measure again at every plan (and, the measurements being noisy, now
 * and then choose another tree). Older builds' lines go, so the file does not grow with every
 * rebuild. */
static void save_line(const char *path, const char *key, kifmm_wisdom w) {
  char tmp[KIFMM_PATH_MAX + 96];
  int w_ = snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid());
  if (w_ < 0 || w_ >= (int)sizeof(tmp))
    return;
  char *old = read_text(path);
  FILE *fp = fopen(tmp, "w");
  if (!fp) {
    free(old);
    return;
  }
  fprintf(fp, "# kifmm-c: rates measured for the leaf size (docs/performance.md, Tuning)\n");
  int others = 0; /* this machine's lines of other builds, oldest first in the file */
  for (const char *p = old; p && *p; p = next_line(p))
    others += p[0] != '#' && classify_line(p, line_len(p), key) == LINE_OTHER_BUILD;
  int drop = others - (WISDOM_BUILDS_KEPT - 1);
  for (const char *p = old; p && *p; p = next_line(p)) {
    const size_t len = line_len(p);
    if (p[0] == '#' || len == 0)
      continue;
    const line_kind kind = classify_line(p, len, key);
    if (kind == LINE_SAME_KEY || (kind == LINE_OTHER_BUILD && drop-- > 0))
      continue;
    fprintf(fp, "%.*s\n", (int)len, p);
  }
  fprintf(fp, "%s|%.6g|%.6g\n", key, w.pair_ns, w.gemm_gflops);
  free(old);
  if (fclose(fp) != 0 || rename(tmp, path) != 0)
    remove(tmp);
}

/* ---- memory: one measurement a process and cache directory ----
 * A pthread mutex, not an OpenMP critical section: plans are made from the caller's own
 * threads too (test_wisdom, test_concurrency), and ThreadSanitizer sees this lock. */
static pthread_mutex_t memo_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
  int valid;
  char dir[KIFMM_PATH_MAX + 64];
  kifmm_wisdom w;
} memo;

static int load(const char *dir, kifmm_wisdom *w) {
  char key[WISDOM_KEY_MAX], path[KIFMM_PATH_MAX + 80];
  wisdom_key(key, sizeof(key));
  int have_path = dir[0] && snprintf(path, sizeof(path), "%s/" WISDOM_FILE, dir) <
                                (int)sizeof(path);
  char *text = have_path ? read_text(path) : NULL;
  int found = text && find_line(text, key, w);
  free(text);
  if (found)
    return KIFMM_SUCCESS;
  CHECK(measure(w));
  if (have_path && plausible(*w))
    save_line(path, key, *w);
  return KIFMM_SUCCESS;
}

kifmm_wisdom kifmm__wisdom(const kifmm_options *o) {
  char dir[KIFMM_PATH_MAX + 64] = "";
  if (o->use_cache && kifmm__opcache_dir(o, dir, sizeof(dir)) != KIFMM_SUCCESS)
    dir[0] = '\0';
  kifmm_wisdom w = kifmm__wisdom_reference();
  pthread_mutex_lock(&memo_lock);
  if (memo.valid && strcmp(memo.dir, dir) == 0) {
    w = memo.w;
  } else if (load(dir, &w) == KIFMM_SUCCESS && plausible(w)) {
    memo.valid = 1;
    memo.w = w;
    memcpy(memo.dir, dir, sizeof(dir));
  } else {
    w = kifmm__wisdom_reference();
  }
  pthread_mutex_unlock(&memo_lock);
  return w;
}

kifmm_wisdom kifmm__wisdom_reference(void) {
  return (kifmm_wisdom){REF_PAIR_NS, REF_GEMM_GFLOPS};
}

double kifmm__wisdom_factor(kifmm_wisdom w) {
  if (!plausible(w))
    return 1.0;
  double f = sqrt(REF_PAIR_NS * REF_GEMM_GFLOPS / (w.pair_ns * w.gemm_gflops));
  return fmin(fmax(f, 0.5), 2.0);
}

/* Plans of KIFMM_WISDOM_MIN_POINTS or more, unless KIFMM_WISDOM=0 or off. */
static int wisdom_applies(int64_t npoints) {
  const char *e = getenv("KIFMM_WISDOM");
  return npoints >= KIFMM_WISDOM_MIN_POINTS &&
         !(e && (strcmp(e, "0") == 0 || strcmp(e, "off") == 0));
}

int kifmm__wisdom_scales(const kifmm_options *o, int64_t npoints, double *pair,
                         double *flop) {
  *pair = *flop = 1.0;
  if (!wisdom_applies(npoints))
    return 0;
  kifmm_wisdom w = kifmm__wisdom(o);
  if (!plausible(w))
    return 0;
  *pair = w.pair_ns / REF_PAIR_NS;
  *flop = REF_GEMM_GFLOPS / w.gemm_gflops;
  return 1;
}

double kifmm__wisdom_leaf_factor(const kifmm_options *o, int64_t npoints) {
  if (o->ncrit != 0 || !wisdom_applies(npoints))
    return 1.0;
  return kifmm__wisdom_factor(kifmm__wisdom(o));
}
