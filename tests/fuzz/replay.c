/*
 * Replays fuzz inputs through a libFuzzer target without libFuzzer, so that
 * `make check` runs the committed corpus with the normal compiler (and
 * under the ASan build and valgrind too).
 *
 *   replay_X [FILE|DIR]...   each file, and every file of each directory;
 *                            with no argument, the corpus the program was
 *                            built for (HE_FUZZ_CORPUS).
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
replay_file(const char *path)
{
	FILE *fp = fopen(path, "rb");
	uint8_t *buf = NULL;
	long len;
	int rc = -1;

	if (!fp) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fseek(fp, 0, SEEK_END) < 0 || (len = ftell(fp)) < 0 ||
	    fseek(fp, 0, SEEK_SET) < 0)
		goto end;
	/* an exact-size copy, so ASan sees any read past the input */
	buf = malloc(len ? (size_t)len : 1);
	if (!buf || fread(buf, 1, (size_t)len, fp) != (size_t)len)
		goto end;
	LLVMFuzzerTestOneInput(buf, (size_t)len);
	rc = 0;
end:
	if (rc < 0)
		fprintf(stderr, "replay: %s: cannot read\n", path);
	free(buf);
	fclose(fp);
	return rc;
}

static int
compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every regular file of dir, in name order; returns how many or -1. */
static int
replay_dir(const char *dir)
{
	char **names = NULL, path[4096];
	size_t n = 0, cap = 0, i;
	struct dirent *e;
	struct stat st;
	DIR *d = opendir(dir);
	int count = 0;

	if (!d) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			char **more = realloc(names, (cap = cap ? 2 * cap : 64) *
			    sizeof(*names));
			if (!more)
				break;
			names = more;
		}
		if (!(names[n] = strdup(e->d_name)))
			break;
		n++;
	}
	closedir(d);
	qsort(names, n, sizeof(*names), compare_names);
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			if (replay_file(path) < 0)
				count = -1;
			else if (count >= 0)
				count++;
		}
		free(names[i]);
	}
	free(names);
	return count;
}

static int
replay(const char *path)
{
	struct stat st;
	int n;

	if (stat(path, &st) < 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return replay_file(path) < 0 ? -1 : 1;
	n = replay_dir(path);
	if (n == 0) {
		fprintf(stderr, "replay: %s: no input\n", path);
		return -1;
	}
	return n;
}

int
main(int argc, char **argv)
{
	int i, n, total = 0, bad = 0;

	if (argc < 2) {
#ifdef HE_FUZZ_CORPUS
		static char *dflt[] = { NULL, (char *)HE_FUZZ_CORPUS, NULL };
		dflt[0] = argv[0];
		argv = dflt;
		argc = 2;
#else
		fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
		return 2;
#endif
	}
	for (i = 1; i < argc; i++) {
		n = replay(argv[i]);
		if (n < 0)
			bad = 1;
		else
			total += n;
	}
	printf("%s: replayed %d input(s)%s\n", argv[0], total,
	    bad ? ", some could not be read" : "");
	return bad ? 1 : 0;
}
