/* SPDX-License-Identifier: MIT */
/*
 * main() for fuzz harnesses built without libFuzzer (gcc builds): runs every file given on
 * the command line, or every file of the directories given, through LLVMFuzzerTestOneInput
 * once. This is how the corpus runs as a regression test in every build.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	static uint8_t buf[1 << 20];
	size_t n;

	if (!f) {
		perror(path);
		return 1;
	}
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	LLVMFuzzerTestOneInput(buf, n);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned runs = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) != 0) {
			perror(argv[i]);
			return 1;
		}
		if (!S_ISDIR(st.st_mode)) {
			if (run_file(argv[i]))
				return 1;
			runs++;
			continue;
		}
		DIR *d = opendir(argv[i]);
		struct dirent *e;
		char path[4096];
		while (d && (e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", argv[i], e->d_name);
			if (run_file(path))
				return 1;
			runs++;
		}
		if (d)
			closedir(d);
	}
	if (runs == 0) {
		fprintf(stderr, "no inputs run\n");
		return 1;
	}
	printf("%u inputs passed\n", runs);
	return 0;
}
