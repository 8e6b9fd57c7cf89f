/* SPDX-License-Identifier: BSD-3-Clause */
/* Operator cache: cold then warm plans give bitwise identical results; truncated, corrupt,
 * wrong-version, wrong-order and garbage files are rebuilt; unwritable directories still
 * give correct results; four processes starting cold compute once and leave one valid file;
 * with --no-flock (under the flock_fails.c shim) the cache works without file locks.
 * Usage: test_opcache [p [--no-flock]] */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kifmm.h"
#include "kifmm_io.h"

static int failures = 0;
#define EXPECT(cond, ...)                                           \
  do {                                                              \
    if (!(cond)) {                                                  \
      fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                                 \
      fprintf(stderr, "\n");                                        \
      failures++;                                                   \
    }                                                               \
  } while (0)

enum { N = 3000 };
static double src[3 * N], q[N], pot0[N], grad0[3 * N];
static int order = 6;

static double urand(unsigned long long *s) {
  *s = *s * 6364136223846793005ull + 1442695040888963407ull;
  return (double)(*s >> 11) * 0x1.0p-53;
}

typedef struct run_out {
  int status, cache_result;
  double t_operators;
  double pot[N], grad[3 * N];
} run_out;
static run_out R;

static run_out *run(const char *dir, int use_cache) {
  kifmm_options o = kifmm_default_options();
  o.order = order;
  o.ncrit = 80;
  o.use_cache = use_cache;
  snprintf(o.cache_dir, sizeof(o.cache_dir), "%s", dir ? dir : "");
  kifmm_plan *p = NULL;
  memset(&R, 0, sizeof(R));
  R.status = kifmm_plan_create(&p, N, src, N, src, &o);
  if (R.status == KIFMM_SUCCESS)
    R.status = kifmm_evaluate(p, q, R.pot, R.grad);
  kifmm_stats st;
  if (R.status == KIFMM_SUCCESS && kifmm_plan_stats(p, &st) == KIFMM_SUCCESS) {
    R.cache_result = st.cache_result;
    R.t_operators = st.t_operators;
  }
  kifmm_plan_destroy(&p);
  return &R;
}

static int same_as_reference(const run_out *r) {
  return memcmp(r->pot, pot0, sizeof(pot0)) == 0 && memcmp(r->grad, grad0, sizeof(grad0)) == 0;
}

/* The one cache file in dir (NULL when there is not exactly one); counts stray temporaries. */
static char found[4096];
static const char *cache_file(const char *dir, int *ntmp) {
  DIR *d = opendir(dir);
  int nh5 = 0;
  *ntmp = 0;
  if (!d)
    return NULL;
  for (struct dirent *e; (e = readdir(d));) {
    size_t l = strlen(e->d_name);
    if (strstr(e->d_name, ".tmp."))
      (*ntmp)++;
    else if (l > 3 && strcmp(e->d_name + l - 3, ".h5") == 0) {
      nh5++;
      snprintf(found, sizeof(found), "%s/%s", dir, e->d_name);
    }
  }
  closedir(d);
  return nh5 == 1 ? found : NULL;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(path);
}
static void rm_rf(const char *dir) {
  chmod(dir, 0755);
  nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static char lock_buf[4200];
static const char *lock_name(const char *dir) {
  int ntmp;
  const char *f = cache_file(dir, &ntmp);
  snprintf(lock_buf, sizeof(lock_buf), "%s.lock", f ? f : "none");
  return lock_buf;
}

/* Run under LD_PRELOAD=flock_fails.so: flock() fails as on a filesystem without locks.
 * First prove the shim works (HDF5 with its default file locking cannot create a file
 * there), then that the cache still stores, hits and gives identical results, i.e. that
 * the library opens cache files with HDF5's file locking off. */
static void without_flock(const char *dir) {
  char probe[600];
  snprintf(probe, sizeof(probe), "%s-probe.h5", dir);
  H5E_auto2_t func;
  void *data;
  H5Eget_auto2(H5E_DEFAULT, &func, &data);
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  hid_t f = H5Fcreate(probe, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  H5Eset_auto2(H5E_DEFAULT, func, data);
  EXPECT(f < 0, "flock shim not active: HDF5 created %s with locking on", probe);
  if (f >= 0)
    H5Fclose(f);
  remove(probe);
  run_out *r = run(dir, 1);
  EXPECT(r->status == KIFMM_SUCCESS && r->cache_result == KIFMM_CACHE_STORED,
         "no flock, cold: status %d cache_result %d", r->status, r->cache_result);
  EXPECT(same_as_reference(r), "no flock, cold: results differ");
  r = run(dir, 1);
  EXPECT(r->cache_result == KIFMM_CACHE_HIT && same_as_reference(r),
         "no flock, warm: cache_result %d, want a hit", r->cache_result);
}

static void set_int_attr(const char *file, const char *name, int value) {
  hid_t f = H5Fopen(file, H5F_ACC_RDWR, H5P_DEFAULT);
  hid_t a = H5Aopen(f, name, H5P_DEFAULT);
  EXPECT(f >= 0 && a >= 0, "cannot open attribute %s of %s", name, file);
  EXPECT(H5Awrite(a, H5T_NATIVE_INT, &value) >= 0, "cannot write attribute %s", name);
  H5Aclose(a);
  H5Fclose(f);
}

/* Flip one byte in the middle of the stored data of a dataset (its single chunk). */
static void flip_dataset_byte(const char *file, const char *name) {
  hid_t f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
  hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
  hid_t s = H5Dget_space(d);
  hsize_t off[2];
  unsigned mask;
  haddr_t addr = HADDR_UNDEF;
  hsize_t size = 0;
  EXPECT(H5Dget_chunk_info(d, s, 0, off, &mask, &addr, &size) >= 0 && addr != HADDR_UNDEF,
         "no chunk for %s", name);
  H5Sclose(s);
  H5Dclose(d);
  H5Fclose(f);
  int fd = open(file, O_RDWR);
  unsigned char c = 0;
  off_t at = (off_t)(addr + size / 2);
  EXPECT(fd >= 0 && pread(fd, &c, 1, at) == 1, "cannot read byte");
  c ^= 0x5a;
  EXPECT(pwrite(fd, &c, 1, at) == 1, "cannot write byte");
  close(fd);
}

static void expect_rebuilt_then_hit(const char *dir, const char *what) {
  run_out *r = run(dir, 1);
  EXPECT(r->status == KIFMM_SUCCESS, "%s: %s", what, kifmm_error_string(r->status));
  EXPECT(r->cache_result == KIFMM_CACHE_REBUILT, "%s: cache_result %d, want rebuilt", what,
         r->cache_result);
  EXPECT(same_as_reference(r), "%s: results differ from the uncached plan", what);
  r = run(dir, 1);
  EXPECT(r->cache_result == KIFMM_CACHE_HIT, "%s: rewritten file not a hit (%d)", what,
         r->cache_result);
  EXPECT(same_as_reference(r), "%s: results after rewrite differ", what);
  int ntmp;
  EXPECT(cache_file(dir, &ntmp) && ntmp == 0, "%s: want one file, no temporaries (%d)", what, ntmp);
}

/* Four processes start cold on the same directory at once, as the ranks of an MPI job do
 * (fresh processes by exec: a forked copy of a process that has run OpenMP regions must not
 * run them again). One computes and stores; the others wait for its file and load it. */
enum { NKIDS = 4, CHILD_OK = 10 }; /* a child's exit status: CHILD_OK + cache_result */
static void concurrent_cold(const char *dir) {
  pid_t kids[NKIDS];
  char ord[16];
  snprintf(ord, sizeof(ord), "%d", order);
  for (int i = 0; i < NKIDS; i++) {
    kids[i] = fork();
    if (kids[i] == 0) {
      execl("/proc/self/exe", "test_opcache", ord, "--child", dir, (char *)NULL);
      _exit(127);
    }
  }
  int count[5] = {0};
  for (int i = 0; i < NKIDS; i++) {
    int ws = 0;
    waitpid(kids[i], &ws, 0);
    int code = WIFEXITED(ws) ? WEXITSTATUS(ws) - CHILD_OK : -1;
    EXPECT(code >= 0 && code <= 4, "concurrent child %d failed (status %#x)", i, ws);
    if (code >= 0 && code <= 4)
      count[code]++;
  }
  EXPECT(count[KIFMM_CACHE_STORED] == 1 && count[KIFMM_CACHE_HIT] == NKIDS - 1,
         "concurrent: %d stored and %d hits, want 1 and %d", count[KIFMM_CACHE_STORED],
         count[KIFMM_CACHE_HIT], NKIDS - 1);
  int ntmp;
  EXPECT(cache_file(dir, &ntmp) != NULL && ntmp == 0, "concurrent: one file, %d temporaries", ntmp);
  EXPECT(access(lock_name(dir), F_OK) != 0, "concurrent: the lock file is left behind");
  run_out *r = run(dir, 1);
  EXPECT(r->cache_result == KIFMM_CACHE_HIT && same_as_reference(r), "concurrent: not a valid hit");
}

int main(int argc, char **argv) {
  if (argc > 1)
    order = atoi(argv[1]);
  unsigned long long seed = 7;
  for (int i = 0; i < 3 * N; i++)
    src[i] = urand(&seed);
  for (int i = 0; i < N; i++)
    q[i] = urand(&seed) - 0.5;
  char root[] = "/tmp/kifmm-opcache-XXXXXX";
  if (!mkdtemp(root))
    return 1;
  char dir[512], sub[4200];
  snprintf(dir, sizeof(dir), "%s/cache", root); /* created by the library */

  /* reference: no cache at all */
  run_out *r = run(NULL, 0);
  EXPECT(r->status == KIFMM_SUCCESS && r->cache_result == KIFMM_CACHE_NOT_USED, "uncached: %d %d",
         r->status, r->cache_result);
  memcpy(pot0, r->pot, sizeof(pot0));
  memcpy(grad0, r->grad, sizeof(grad0));
  if (argc > 3 && strcmp(argv[2], "--child") == 0) { /* one of concurrent_cold's racers */
    r = run(argv[3], 1);
    return r->status == KIFMM_SUCCESS && same_as_reference(r) ? CHILD_OK + r->cache_result : 1;
  }
  if (argc > 2 && strcmp(argv[2], "--no-flock") == 0) {
    without_flock(dir);
    rm_rf(root);
    return failures ? 1 : 0;
  }
  {
    static double dp[N], dg[3 * N];
    kifmm_direct(N, src, q, N, src, dp, dg, 0);
    double e = 0, s = 0;
    for (int i = 0; i < N; i++) {
      e += (dp[i] - pot0[i]) * (dp[i] - pot0[i]);
      s += dp[i] * dp[i];
    }
    EXPECT(sqrt(e / s) < (order >= 6 ? 1e-4 : 1e-2), "potential error %g", sqrt(e / s));
  }
  /* cold, then warm */
  r = run(dir, 1);
  double cold = r->t_operators;
  EXPECT(r->status == KIFMM_SUCCESS && r->cache_result == KIFMM_CACHE_STORED, "cold: %d %d",
         r->status, r->cache_result);
  EXPECT(same_as_reference(r), "cold results differ from uncached");
  r = run(dir, 1);
  double warm = r->t_operators;
  EXPECT(r->cache_result == KIFMM_CACHE_HIT, "warm: cache_result %d", r->cache_result);
  EXPECT(same_as_reference(r), "warm results not bitwise identical to cold");
  printf("order %d: operators cold %.3f s, warm %.3f s\n", order, cold, warm);
  int ntmp;
  const char *file = cache_file(dir, &ntmp);
  EXPECT(file && ntmp == 0, "want exactly one cache file and no temporaries");
  if (!file)
    return 1;
  char path[4096];
  snprintf(path, sizeof(path), "%s", file);

  /* damaged files */
  struct stat st;
  stat(path, &st);
  EXPECT(truncate(path, st.st_size / 2) == 0, "truncate");
  expect_rebuilt_then_hit(dir, "truncated");
  flip_dataset_byte(path, "m2m");
  expect_rebuilt_then_hit(dir, "flipped byte in m2m");
  flip_dataset_byte(path, "m2l_ab");
  expect_rebuilt_then_hit(dir, "flipped byte in m2l_ab");
  set_int_attr(path, "format_version", 999);
  expect_rebuilt_then_hit(dir, "wrong format_version");
  set_int_attr(path, "order", order + 1);
  expect_rebuilt_then_hit(dir, "wrong order");
  set_int_attr(path, "check_order", order); /* a file of the former check surfaces */
  expect_rebuilt_then_hit(dir, "wrong check_order");
  set_int_attr(path, "nsurf_check", 6 * (order - 1) * (order - 1) + 2);
  expect_rebuilt_then_hit(dir, "wrong nsurf_check");
  FILE *g = fopen(path, "w");
  fputs("not an HDF5 file\n", g);
  fclose(g);
  expect_rebuilt_then_hit(dir, "garbage");
  snprintf(sub, sizeof(sub), "%s.tmp.1.2.3", path); /* a crashed writer's leftover */
  g = fopen(sub, "w");
  fputs("half", g);
  fclose(g);
  r = run(dir, 1);
  EXPECT(r->cache_result == KIFMM_CACHE_HIT && same_as_reference(r), "stray temporary disturbs");
  remove(sub);

  /* unwritable: below a regular file (mkdir fails even for root) */
  snprintf(sub, sizeof(sub), "%s/plainfile", root);
  g = fopen(sub, "w");
  fclose(g);
  strcat(sub, "/cache");
  r = run(sub, 1);
  EXPECT(r->status == KIFMM_SUCCESS && r->cache_result == KIFMM_CACHE_NOT_STORED,
         "unwritable: status %d cache_result %d", r->status, r->cache_result);
  EXPECT(same_as_reference(r), "unwritable: results differ");
  /* read-only directory: a valid file is still a hit; an empty one cannot be stored
   * (unless we are root, whom permissions do not stop) */
  chmod(dir, 0555);
  r = run(dir, 1);
  EXPECT(r->cache_result == KIFMM_CACHE_HIT && same_as_reference(r), "read-only with file: %d",
         r->cache_result);
  chmod(dir, 0755);
  snprintf(sub, sizeof(sub), "%s/readonly", root);
  mkdir(sub, 0555);
  r = run(sub, 1);
  if (access(sub, W_OK) != 0)
    EXPECT(r->cache_result == KIFMM_CACHE_NOT_STORED, "read-only empty: %d", r->cache_result);
  else
    printf("running as root: read-only directory check covered by the plain-file case\n");
  EXPECT(r->status == KIFMM_SUCCESS && same_as_reference(r), "read-only: results differ");

  /* use_cache = 0 touches nothing; the environment chooses the directory */
  snprintf(sub, sizeof(sub), "%s/env", root);
  setenv("KIFMM_CACHE_DIR", sub, 1);
  r = run("", 0);
  EXPECT(r->cache_result == KIFMM_CACHE_NOT_USED && access(sub, F_OK) != 0, "use_cache=0 wrote");
  r = run("", 1);
  EXPECT(r->cache_result == KIFMM_CACHE_STORED && cache_file(sub, &ntmp), "KIFMM_CACHE_DIR unused");
  unsetenv("KIFMM_CACHE_DIR");
  snprintf(sub, sizeof(sub), "%s/xdg", root);
  setenv("XDG_CACHE_HOME", sub, 1);
  r = run("", 1);
  strcat(sub, "/kifmm");
  EXPECT(r->cache_result == KIFMM_CACHE_STORED && cache_file(sub, &ntmp), "XDG_CACHE_HOME unused");

  /* concurrent cold starts */
  snprintf(sub, sizeof(sub), "%s/race", root);
  concurrent_cold(sub);

  rm_rf(root);
  if (failures)
    fprintf(stderr, "%d failure(s)\n", failures);
  return failures ? 1 : 0;
}
