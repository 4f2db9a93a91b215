/* metrics: a small thread-safe registry of Prometheus counters, gauges and histograms, each
 * series named by metric name + label text, rendered in the text exposition format. */
#include "metrics.h"

#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#define METRICS_MAX_FAMILIES 64
#define METRICS_MAX_BUCKETS  16
#define METRICS_LABELS_MAX   160
#define METRICS_HASH_SIZE    512

struct series {
	struct series *next;	    /* hash chain */
	struct series *family_next; /* family's list, in creation order */
	int family;
	char labels[METRICS_LABELS_MAX];
	double value;	     /* counter/gauge value; histogram sum */
	unsigned long count; /* histogram observations */
	unsigned long buckets[METRICS_MAX_BUCKETS];
};

struct family {
	char name[96];
	char type[12];
	char help[160];
	double bounds[METRICS_MAX_BUCKETS];
	int nbuckets;
	struct series *first, *last;
};

struct metrics {
	pthread_mutex_t lock;
	struct family families[METRICS_MAX_FAMILIES];
	int nfamilies;
	struct series *table[METRICS_HASH_SIZE];
	unsigned long errors;
};

struct metrics *
metrics_new(void)
{
	struct metrics *m = calloc(1, sizeof(*m));

	if (m != NULL)
		pthread_mutex_init(&m->lock, NULL);
	return m;
}

void
metrics_free(struct metrics *m)
{
	if (m == NULL)
		return;
	for (int i = 0; i < m->nfamilies; i++) {
		struct series *s = m->families[i].first, *next;

		for (; s != NULL; s = next) {
			next = s->family_next;
			free(s);
		}
	}
	pthread_mutex_destroy(&m->lock);
	free(m);
}

int
metrics_declare(struct metrics *m, const char *name, const char *type, const char *help,
		const double *buckets, int nbuckets)
{
	struct family *f;

	if (m->nfamilies == METRICS_MAX_FAMILIES || nbuckets > METRICS_MAX_BUCKETS ||
	    strlen(name) >= sizeof(f->name))
		return -1;
	pthread_mutex_lock(&m->lock);
	f = &m->families[m->nfamilies++];
	snprintf(f->name, sizeof(f->name), "%s", name);
	snprintf(f->type, sizeof(f->type), "%s", type);
	snprintf(f->help, sizeof(f->help), "%s", help);
	for (int i = 0; i < nbuckets; i++)
		f->bounds[i] = buckets[i];
	f->nbuckets = nbuckets;
	pthread_mutex_unlock(&m->lock);
	return 0;
}

static unsigned
hash(const char *a, const char *b)
{
	unsigned h = 2166136261u; /* FNV-1a */

	for (; *a; a++)
		h = (h ^ (unsigned char)*a) * 16777619u;
	h = (h ^ '{') * 16777619u;
	for (; *b; b++)
		h = (h ^ (unsigned char)*b) * 16777619u;
	return h % METRICS_HASH_SIZE;
}

/* Finds or creates the series; called with the lock held. NULL if the family is unknown. */
static struct series *
series_get(struct metrics *m, const char *name, const char *labels)
{
	unsigned h = hash(name, labels);
	struct series *s;
	struct family *f = NULL;
	int fi;

	for (s = m->table[h]; s != NULL; s = s->next) {
		if (strcmp(m->families[s->family].name, name) == 0 &&
		    strcmp(s->labels, labels) == 0)
			return s;
	}
	for (fi = 0; fi < m->nfamilies; fi++) {
		if (strcmp(m->families[fi].name, name) == 0) {
			f = &m->families[fi];
			break;
		}
	}
	if (f == NULL || strlen(labels) >= METRICS_LABELS_MAX ||
	    (s = calloc(1, sizeof(*s))) == NULL) {
		m->errors++;
		return NULL;
	}
	s->family = fi;
	memcpy(s->labels, labels, strlen(labels) + 1);
	s->next = m->table[h];
	m->table[h] = s;
	if (f->last != NULL)
		f->last->family_next = s;
	else
		f->first = s;
	f->last = s;
	return s;
}

void
metrics_touch(struct metrics *m, const char *name, const char *labels)
{
	pthread_mutex_lock(&m->lock);
	series_get(m, name, labels);
	pthread_mutex_unlock(&m->lock);
}

/* Unlinks s from its hash chain and its family's list; called with the lock held. */
static void
series_unlink(struct metrics *m, struct series *s, unsigned h)
{
	struct family *f = &m->families[s->family];
	struct series **pp, *prev = NULL;

	for (pp = &m->table[h]; *pp != s; pp = &(*pp)->next)
		;
	*pp = s->next;
	for (struct series *it = f->first; it != s; it = it->family_next)
		prev = it;
	if (prev != NULL)
		prev->family_next = s->family_next;
	else
		f->first = s->family_next;
	if (f->last == s)
		f->last = prev;
}

void
metrics_remove(struct metrics *m, const char *name, const char *labels)
{
	unsigned h = hash(name, labels);

	pthread_mutex_lock(&m->lock);
	for (struct series *s = m->table[h]; s != NULL; s = s->next) {
		if (strcmp(m->families[s->family].name, name) == 0 &&
		    strcmp(s->labels, labels) == 0) {
			series_unlink(m, s, h);
			free(s);
			break;
		}
	}
	pthread_mutex_unlock(&m->lock);
}

int
metrics_build_info(struct metrics *m, const char *version)
{
	char labels[METRICS_LABELS_MAX];
	size_t n = 0;
	int rc = -1;

	n = (size_t)snprintf(labels, sizeof(labels), "version=\"");
	/* The text format escapes backslash, double quote and newline in label values. */
	for (const char *p = version; *p && n + 4 < sizeof(labels); p++) {
		if (*p == '\\' || *p == '"' || *p == '\n')
			labels[n++] = '\\';
		labels[n++] = *p == '\n' ? 'n' : *p;
	}
	labels[n++] = '"';
	labels[n] = '\0';
	if (metrics_declare(m, "tmprov_build_info", "gauge",
			    "Always 1; the labels say which build of tmprov runs.", NULL, 0) != 0)
		goto out;
	metrics_set(m, "tmprov_build_info", labels, 1);
	rc = 0;
out:
	return rc;
}

void
metrics_add(struct metrics *m, const char *name, const char *labels, double v)
{
	struct series *s;

	pthread_mutex_lock(&m->lock);
	if ((s = series_get(m, name, labels)) != NULL)
		s->value += v;
	pthread_mutex_unlock(&m->lock);
}

void
metrics_set(struct metrics *m, const char *name, const char *labels, double v)
{
	struct series *s;

	pthread_mutex_lock(&m->lock);
	if ((s = series_get(m, name, labels)) != NULL)
		s->value = v;
	pthread_mutex_unlock(&m->lock);
}

void
metrics_observe(struct metrics *m, const char *name, const char *labels, double v)
{
	struct series *s;

	pthread_mutex_lock(&m->lock);
	if ((s = series_get(m, name, labels)) != NULL) {
		const struct family *f = &m->families[s->family];

		for (int i = 0; i < f->nbuckets; i++) {
			if (v <= f->bounds[i])
				s->buckets[i]++;
		}
		s->count++;
		s->value += v;
	}
	pthread_mutex_unlock(&m->lock);
}

/* name{labels[,extra]} with the braces left out when there is nothing inside. */
static int
render_name(struct buf *out, const char *name, const char *suffix, const char *labels,
	    const char *extra)
{
	const char *sep = (*labels && *extra) ? "," : "";

	if (*labels == '\0' && *extra == '\0')
		return buf_printf(out, "%s%s ", name, suffix);
	return buf_printf(out, "%s%s{%s%s%s} ", name, suffix, labels, sep, extra);
}

static int
render_series(struct buf *out, const struct family *f, const struct series *s)
{
	char le[48];
	int rc = 0;

	if (strcmp(f->type, "histogram") != 0) {
		rc |= render_name(out, f->name, "", s->labels, "");
		return rc | buf_printf(out, "%.15g\n", s->value);
	}
	for (int i = 0; i < f->nbuckets; i++) {
		snprintf(le, sizeof(le), "le=\"%g\"", f->bounds[i]);
		rc |= render_name(out, f->name, "_bucket", s->labels, le);
		rc |= buf_printf(out, "%lu\n", s->buckets[i]);
	}
	rc |= render_name(out, f->name, "_bucket", s->labels, "le=\"+Inf\"");
	rc |= buf_printf(out, "%lu\n", s->count);
	rc |= render_name(out, f->name, "_sum", s->labels, "");
	rc |= buf_printf(out, "%.15g\n", s->value);
	rc |= render_name(out, f->name, "_count", s->labels, "");
	return rc | buf_printf(out, "%lu\n", s->count);
}

int
metrics_render(struct metrics *m, struct buf *out)
{
	int rc = 0;

	pthread_mutex_lock(&m->lock);
	for (int i = 0; i < m->nfamilies && rc == 0; i++) {
		const struct family *f = &m->families[i];

		rc |= buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name,
				 f->type);
		for (const struct series *s = f->first; s != NULL && rc == 0; s = s->family_next)
			rc |= render_series(out, f, s);
	}
	if (rc == 0)
		rc = buf_printf(out,
				"# HELP tmprov_metrics_errors_total Series that could not be "
				"recorded.\n# TYPE tmprov_metrics_errors_total counter\n"
				"tmprov_metrics_errors_total %lu\n",
				m->errors);
	pthread_mutex_unlock(&m->lock);
	return rc;
}
