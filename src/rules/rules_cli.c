/*
 * rules_cli.c - `mqttids rules check`: validates rule files and
 * directories as the engine would load them (one rule set, so duplicate
 * sids across files are reported), with a summary line per file.
 */
#include "rules/rules.h"

#include "event/anomalies.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

/* Loads one file, prints its summary (and rules); returns its errors. */
static int check_file(struct ruleset *rs, const char *path, bool verbose,
		      FILE *out, FILE *err)
{
	size_t before = ruleset_count(rs);
	int e = ruleset_load_file(rs, path, err);
	if (e < 0)
		return 1; /* cannot read: the message is already out */
	size_t n = ruleset_count(rs) - before;
	if (verbose) {
		for (size_t i = before; i < ruleset_count(rs); i++) {
			const struct rule *r = ruleset_get(rs, i);
			fprintf(out, "  %s:%u: sid %u, %s: %s\n", r->file,
				r->line, r->sid,
				rule_priority_name(r->priority), r->name);
		}
	}
	fprintf(out, "%s: %zu rule%s, %d error%s\n", path, n,
		n == 1 ? "" : "s", e, e == 1 ? "" : "s");
	return e;
}

int rules_check(const struct rule_vars *vars, const char *class_path, int n,
		char **paths, bool verbose, FILE *out, FILE *err)
{
	struct ruleset *rs = ruleset_new(vars);
	int errors = 0, files_checked = 0;
	if (!rs) {
		fprintf(err, "rules check: out of memory\n");
		return 1;
	}
	if (class_path) {
		int e = ruleset_load_classification(rs, class_path, err);
		if (e >= 0) {
			size_t k = ruleset_class_count(rs);
			fprintf(out, "%s: %zu classtype%s, %d error%s\n",
				class_path, k, k == 1 ? "" : "s", e,
				e == 1 ? "" : "s");
		}
		errors += e < 0 ? 1 : e;
	}
	for (int i = 0; i < n; i++) {
		struct stat st;
		if (stat(paths[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			char **files;
			int k = rules_dir_list(paths[i], &files);
			if (k < 0) {
				fprintf(err, "%s: error: cannot read directory: "
					"%s\n", paths[i], strerror(errno));
				errors++;
				continue;
			}
			if (k == 0)
				fprintf(err, "%s: warning: no *.rules files\n",
					paths[i]);
			for (int j = 0; j < k; j++, files_checked++)
				errors += check_file(rs, files[j], verbose,
						     out, err);
			rules_paths_free(files, k);
			continue;
		}
		errors += check_file(rs, paths[i], verbose, out, err);
		files_checked++;
	}
	if (files_checked > 1)
		fprintf(out, "total: %zu rule%s, %d error%s\n",
			ruleset_count(rs), ruleset_count(rs) == 1 ? "" : "s",
			errors, errors == 1 ? "" : "s");
	ruleset_free(rs);
	return errors ? 1 : 0;
}

int rules_list(const char *what, const char *class_path, FILE *out,
	       FILE *err)
{
	if (!strcmp(what, "anomalies")) {
		for (size_t i = 0; i < anomaly_count(); i++) {
			const struct anomaly_name *a = anomaly_get(i);
			fprintf(out, "%s\t%s\t%s\n", a->name, a->layer,
				a->meaning);
		}
		return 0;
	}
	if (strcmp(what, "classtypes")) {
		fprintf(err, "rules check: --list takes anomalies or "
			"classtypes, not '%s'\n", what);
		return 1;
	}
	if (!class_path) {
		fprintf(err, "rules check: no classification file found "
			"(rules.classification-file)\n");
		return 1;
	}
	struct ruleset *rs = ruleset_new(NULL);
	if (!rs) {
		fprintf(err, "rules check: out of memory\n");
		return 1;
	}
	int e = ruleset_load_classification(rs, class_path, err);
	for (size_t i = 0; i < ruleset_class_count(rs); i++) {
		const struct rule_class *c = ruleset_class_get(rs, i);
		fprintf(out, "%s\t%s\t%s\n", c->name,
			rule_priority_name(c->priority), c->description);
	}
	ruleset_free(rs);
	return e ? 1 : 0;
}
