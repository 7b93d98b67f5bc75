/* SPDX-License-Identifier: MIT */
/*
 * Random operations on both frame allocators against a shadow model of every frame:
 * allocation anywhere, at an exact address and in a range with an alignment, partial frees
 * of allocated runs, refused frees that touch a free or unmanaged frame. The model predicts
 * each result exactly (allocation is complete, so "fails" must mean "no run exists"), and
 * check() must find nothing after every operation. The seed is printed; set FRAMES_SEED to
 * replay one.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame_harness.h"

#define MAXPFN 24000
#define OPS    4000

struct rgn {
	size_t base, frames;
};

/* Small map: regions at 0, at an odd base, two physically adjacent ones. */
static const struct rgn small_map[] = {{0, 700}, {1001, 999}, {2100, 37}, {2137, 63}, {2300, 1800}};
/* Wide map: regions spanning several bitmap groups (4096 frames on 64-bit hosts), so
 * searches cross group edges. */
static const struct rgn wide_map[] = {{0, 9000}, {9000, 40}, {12003, 7900}};

static const struct rgn *regions;
static size_t NREGIONS, NPFN;
static int region_of[MAXPFN]; /* -1: not managed */
static unsigned char used[MAXPFN];
static uint64_t rng;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static size_t rnd_below(size_t n)
{
	return (size_t)(rnd() % n);
}

/* Does the model hold n free frames from pfn s, all in one region? */
static bool run_free(size_t s, size_t n)
{
	if (s >= NPFN || n > NPFN - s || region_of[s] < 0)
		return false;
	for (size_t i = s; i < s + n; i++)
		if (region_of[i] != region_of[s] || used[i])
			return false;
	return true;
}

/* Any aligned free run of n frames, in one region, inside [lo, hi)? Every possible end i
 * is tried once: the run [i+1-n, i] exists iff the free run ending at i is >= n long. */
static bool model_has_run(size_t lo, size_t hi, size_t n, size_t a)
{
	size_t run = 0;

	for (size_t i = lo; i < hi; i++) {
		if (region_of[i] < 0 || used[i]) {
			run = 0;
			continue;
		}
		if (run && region_of[i] != region_of[i - 1])
			run = 0;
		run++;
		if (run >= n && ((i + 1 - n) & (a - 1)) == 0)
			return true;
	}
	return false;
}

static size_t model_free(void)
{
	size_t n = 0;

	for (size_t i = 0; i < NPFN; i++)
		n += region_of[i] >= 0 && !used[i];
	return n;
}

static void mark(size_t s, size_t n, unsigned char v)
{
	for (size_t i = s; i < s + n; i++) {
		assert_true(region_of[i] >= 0);
		assert_int_equal(used[i], !v);
		used[i] = v;
	}
}

static size_t size_pick(void)
{
	unsigned r = (unsigned)rnd_below(100);

	if (r < 50)
		return 1 + rnd_below(4);
	if (r < 85)
		return 1 + rnd_below(70);
	return 1 + rnd_below(400);
}

static void run(enum fh_kind kind, uint64_t seed, const struct rgn *map, size_t nmap)
{
	struct fh h;
	struct ka_frame_alloc *fa;
	unsigned counts[6] = {0};
	size_t fill_sum = 0;

	regions = map;
	NREGIONS = nmap;
	NPFN = map[nmap - 1].base + map[nmap - 1].frames + 100;
	assert_true(NPFN <= MAXPFN);
	fh_init(&h, kind);
	fa = h.fa;
	memset(region_of, 0xff, sizeof(region_of));
	memset(used, 0, sizeof(used));
	for (size_t r = 0; r < NREGIONS; r++) {
		assert_int_equal(fh_add(&h, regions[r].base * PG, regions[r].frames, KA_DM_NONE),
				 0);
		for (size_t i = 0; i < regions[r].frames; i++)
			region_of[regions[r].base + i] = (int)r;
	}
	rng = seed;
	for (int op = 0; op < OPS; op++) {
		unsigned what = (unsigned)rnd_below(100);
		ka_paddr_t p = KA_PADDR_ANY;
		int rc;

		if (what < 25) { /* anywhere */
			size_t n = size_pick();
			bool expect = model_has_run(0, NPFN, n, 1);

			rc = fa->ops->alloc(fa, &p, n, 0);
			assert_int_equal(rc, expect ? 0 : KA_ENOMEM);
			counts[5] += rc == 0;
			if (!rc) {
				assert_true(run_free((size_t)(p / PG), n));
				mark((size_t)(p / PG), n, 1);
			}
			counts[0]++;
		} else if (what < 40) { /* exact */
			size_t s = rnd_below(NPFN), n = size_pick() / 4 + 1;
			int expect = 0;

			if (region_of[s] < 0 || n > NPFN - s)
				expect = KA_EFAULT;
			for (size_t i = s; !expect && i < s + n; i++)
				if (region_of[i] != region_of[s])
					expect = KA_EFAULT;
			if (!expect && !run_free(s, n))
				expect = KA_EBUSY;
			p = s * PG;
			rc = fa->ops->alloc(fa, &p, n, 0);
			assert_int_equal(rc, expect);
			if (!rc) {
				assert_int_equal(p, s * PG);
				mark(s, n, 1);
			}
			counts[1]++;
		} else if (what < 60) { /* range + alignment, bounds not page aligned */
			size_t n = size_pick() / 2 + 1, a = (size_t)1 << rnd_below(11);
			ka_paddr_t min = rnd_below(NPFN * PG), max = rnd_below(NPFN * PG + PG);
			size_t lo, hi;
			bool expect;

			if (min > max) {
				ka_paddr_t t = min;
				min = max;
				max = t;
			}
			lo = (size_t)((min + PG - 1) / PG);
			hi = (size_t)(max / PG);
			expect = lo < hi && model_has_run(lo, hi, n, a);
			rc = fa->ops->alloc_range(fa, &p, n, min, max, a * PG, 0);
			assert_int_equal(rc, expect ? 0 : KA_ENOMEM);
			counts[5] += rc == 0;
			if (!rc) {
				size_t s = (size_t)(p / PG);
				assert_true(s >= lo && s + n <= hi && (s & (a - 1)) == 0);
				assert_true(run_free(s, n));
				mark(s, n, 1);
			}
			counts[2]++;
		} else if (what <
			   92) { /* free part of an allocated run (may span adjacent regions) */
			size_t f = rnd_below(NPFN), lo, hi, s, e;

			while (f < NPFN && !(region_of[f] >= 0 && used[f]))
				f++;
			if (f == NPFN)
				continue;
			lo = hi = f;
			while (lo > 0 && region_of[lo - 1] >= 0 && used[lo - 1])
				lo--;
			while (hi + 1 < NPFN && region_of[hi + 1] >= 0 && used[hi + 1])
				hi++;
			s = lo + rnd_below(hi - lo + 1);
			e = s + 1 + rnd_below(hi - s + 1);
			if (rnd_below(3) == 0) {
				s = lo;
				e = hi + 1;
			}
			assert_int_equal(ka_ffree(fa, s * PG, e - s), 0);
			mark(s, e - s, 0);
			counts[3]++;
		} else { /* a free that must be refused */
			size_t s = rnd_below(NPFN), n = 1 + rnd_below(20);
			bool ok = n <= NPFN - s;

			for (size_t i = s; ok && i < s + n; i++)
				ok = region_of[i] >= 0 && used[i];
			if (ok || n > NPFN - s)
				continue;
			assert_int_equal(ka_ffree(fa, s * PG, n), KA_EFAULT);
			counts[4]++;
		}
		if (ka_fcheck(fa) != 0)
			fail_msg("%s: check failed after op %d (seed %llu)", fh_name(kind), op,
				 (unsigned long long)seed);
		assert_int_equal(ka_ffree_frames(fa), model_free());
		fill_sum += ka_ffree_frames(fa);
	}
	/* free everything that is left; every region is whole again */
	for (size_t i = 0; i < NPFN; i++)
		if (region_of[i] >= 0 && used[i]) {
			assert_int_equal(ka_ffree(fa, i * PG, 1), 0);
			used[i] = 0;
		}
	assert_int_equal(ka_fcheck(fa), 0);
	for (size_t r = 0; r < NREGIONS; r++) {
		assert_int_equal(ka_falloc_at(fa, regions[r].base * PG, regions[r].frames), 0);
		assert_int_equal(ka_ffree(fa, regions[r].base * PG, regions[r].frames), 0);
	}
	assert_int_equal(ka_ffree_frames(fa), ka_ftotal_frames(fa));
	print_message("%s: seed %llu: %u anywhere, %u exact, %u range (%u of these two "
		      "succeeded), %u frees, %u refused; mean free frames %zu of %zu\n",
		      fh_name(kind), (unsigned long long)seed, counts[0], counts[1], counts[2],
		      counts[5], counts[3], counts[4], fill_sum / OPS, ka_ftotal_frames(fa));
	fh_fini(&h);
}

static uint64_t seed_base(void)
{
	const char *env = getenv("FRAMES_SEED");

	return env ? strtoull(env, NULL, 0) : 0x9e3779b97f4a7c15ull;
}

#define MAP(m) m, sizeof(m) / sizeof(m[0])

static void t_random_buddy(void **state)
{
	(void)state;
	for (uint64_t i = 0; i < 2; i++)
		run(FH_BUDDY, seed_base() + i, MAP(small_map));
	run(FH_BUDDY, seed_base() + 2, MAP(wide_map));
}

static void t_random_bitmap(void **state)
{
	(void)state;
	for (uint64_t i = 0; i < 2; i++)
		run(FH_BITMAP, seed_base() + i, MAP(small_map));
	run(FH_BITMAP, seed_base() + 2, MAP(wide_map));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(t_random_buddy),
	    cmocka_unit_test(t_random_bitmap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
