/* SPDX-License-Identifier: BSD-3-Clause */
/* The operator cache's size limit (KIFMM_CACHE_MAX_BYTES): the least recently used cache
 * files make room for a new one, other files are never touched, a file larger than the limit
 * is not stored, and a hit counts as a use. */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../testutil.h"
#include "operators/opcache.h"

static char dir[] = "/tmp/kifmm-cachesize-XXXXXX";

/* A file of `bytes` bytes whose modification time is `age` seconds ago. */
static void make_file(const char *name, off_t bytes, int age) {
  char path[512];
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  EXPECT(fd >= 0 && ftruncate(fd, bytes) == 0, "creating %s", name);
  if (fd >= 0)
    close(fd);
  struct timespec t[2];
  clock_gettime(CLOCK_REALTIME, &t[0]);
  t[0].tv_sec -= age;
  t[1] = t[0];
  EXPECT(utimensat(AT_FDCWD, path, t, 0) == 0, "dating %s", name);
}

static int exists(const char *name) {
  char path[512];
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  return access(path, F_OK) == 0;
}

static int make_room(const char *limit, const char *name, uint64_t bytes) {
  setenv("KIFMM_CACHE_MAX_BYTES", limit, 1);
  char path[512];
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  return kifmm__cache_make_room(path, bytes);
}

static void test_parse(void) {
  const struct {
    const char *text;
    uint64_t bytes;
  } cases[] = {{"1000", 1000},
               {"512K", 512u << 10},
               {"3m", (uint64_t)3 << 20},
               {"2G", (uint64_t)2 << 30},
               {"1T", (uint64_t)1 << 40},
               {"unlimited", UINT64_MAX},
               {"", (uint64_t)8 << 30},
               {"lots", (uint64_t)8 << 30},
               {"-5", (uint64_t)8 << 30},
               {"12Q", (uint64_t)8 << 30},
               {"99999999999999999999", (uint64_t)8 << 30}};
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    setenv("KIFMM_CACHE_MAX_BYTES", cases[i].text, 1);
    uint64_t got = kifmm__cache_max_bytes();
    EXPECT(got == cases[i].bytes, "KIFMM_CACHE_MAX_BYTES=\"%s\": %llu", cases[i].text,
           (unsigned long long)got);
  }
  unsetenv("KIFMM_CACHE_MAX_BYTES");
  EXPECT(kifmm__cache_max_bytes() == (uint64_t)8 << 30, "unset: the 8 GiB default");
}

static void test_eviction(void) {
  make_file("laplace-float64-p04-a.h5", 3000, 300); /* oldest */
  make_file("yukawa-float64-p06-b.h5", 4000, 200);
  make_file("stokes-float64-p05-c.h5", 5000, 100); /* newest */
  make_file("results.h5", 100000, 1000);           /* the user's: never counted or removed */
  make_file("notes.txt", 100000, 1000);
  make_file("laplace-float64-p04-a.h5.tmp.1.2.3", 100000, 1000);
  /* 12000 stored; 13000 allowed; 2500 more: only the oldest goes */
  EXPECT(make_room("13000", "laplace-float64-p08-new.h5", 2500) == 1, "room for 2500");
  EXPECT(!exists("laplace-float64-p04-a.h5") && exists("yukawa-float64-p06-b.h5") &&
             exists("stokes-float64-p05-c.h5"),
         "the least recently used file goes first, and only it");
  EXPECT(exists("results.h5") && exists("notes.txt") && exists("laplace-float64-p04-a.h5.tmp.1.2.3"),
         "files that are not cache files are left alone");
  /* larger than the limit: nothing removed, not stored */
  EXPECT(make_room("13000", "laplace-float64-p08-new.h5", 20000) == 0, "a file over the limit");
  EXPECT(exists("yukawa-float64-p06-b.h5") && exists("stokes-float64-p05-c.h5"),
         "a refused file removes nothing");
  /* both remaining go for 12000 */
  EXPECT(make_room("13000", "laplace-float64-p08-new.h5", 12000) == 1, "room for 12000");
  EXPECT(!exists("yukawa-float64-p06-b.h5") && !exists("stokes-float64-p05-c.h5"), "all evicted");
  EXPECT(make_room("unlimited", "laplace-float64-p08-new.h5", (uint64_t)1 << 50) == 1,
         "unlimited");
}

/* Through the public API: a hit refreshes the file's time; a limit below the file's size
 * leaves the plan's results as they are and the file unstored. */
static void test_plans(void) {
  const int64_t n = 2000;
  double *x = tu_alloc(3 * n), *q = tu_alloc(n), *p[2] = {tu_alloc(n), tu_alloc(n)};
  uint64_t seed = 5;
  tu_points(TU_CUBE, n, &seed, x);
  for (int64_t i = 0; i < n; i++)
    q[i] = tu_uniform(&seed) - 0.5;
  char sub[600];
  snprintf(sub, sizeof(sub), "%s/plans", dir);
  int result[3];
  for (int k = 0; k < 3; k++) {
    setenv("KIFMM_CACHE_MAX_BYTES", k == 2 ? "1K" : "unlimited", 1);
    kifmm_options o = kifmm_default_options();
    o.order = 4;
    snprintf(o.cache_dir, sizeof(o.cache_dir), "%s", sub);
    kifmm_plan *plan = NULL;
    EXPECT_STATUS(kifmm_plan_create(&plan, n, x, n, x, &o), KIFMM_SUCCESS);
    EXPECT_STATUS(kifmm_evaluate(plan, q, p[k == 2], NULL), KIFMM_SUCCESS);
    kifmm_stats st;
    kifmm_plan_stats(plan, &st);
    result[k] = st.cache_result;
    kifmm_plan_destroy(&plan);
    if (k == 0) { /* age the stored file by an hour: the hit below must make it new */
      char cmd[700];
      snprintf(cmd, sizeof(cmd), "touch -d '1 hour ago' %s/*.h5", sub);
      EXPECT(system(cmd) == 0, "aging the cache file");
    }
    if (k == 1) {
      char cmd[700];
      snprintf(cmd, sizeof(cmd), "test $(find %s -name '*.h5' -mmin -5 | wc -l) -eq 1", sub);
      EXPECT(system(cmd) == 0, "a hit refreshes the file's time");
      snprintf(cmd, sizeof(cmd), "rm -f %s/*.h5", sub);
      EXPECT(system(cmd) == 0, "emptying the cache");
    }
  }
  EXPECT(result[0] == KIFMM_CACHE_STORED && result[1] == KIFMM_CACHE_HIT &&
             result[2] == KIFMM_CACHE_NOT_STORED,
         "cache results %d %d %d", result[0], result[1], result[2]);
  EXPECT(!memcmp(p[0], p[1], sizeof(double) * n), "an unstored plan gives other results");
  free(x), free(q), free(p[0]), free(p[1]);
}

int main(void) {
  EXPECT(mkdtemp(dir) != NULL, "temporary directory");
  test_parse();
  test_eviction();
  test_plans();
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
  EXPECT(system(cmd) == 0, "cleaning up");
  return tu_finish("test_cache_size");
}
