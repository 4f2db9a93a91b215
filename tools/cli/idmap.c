/* idmap: FNV-1a hashes, linear probing, doubled at half load; nothing is ever removed. */
#include "idmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct slot {
	char *key; /* NULL: empty */
	void *value;
};

struct idmap {
	struct slot *slots;
	size_t cap, n; /* cap: a power of two */
};

static uint64_t
idmap_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

struct idmap *
idmap_new(void)
{
	struct idmap *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return NULL;
	m->cap = 64;
	m->slots = calloc(m->cap, sizeof(*m->slots));
	if (m->slots == NULL) {
		free(m);
		return NULL;
	}
	return m;
}

void
idmap_free(struct idmap *m, void (*free_value)(void *))
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->cap; i++) {
		if (m->slots[i].key == NULL)
			continue;
		free(m->slots[i].key);
		if (free_value != NULL)
			free_value(m->slots[i].value);
	}
	free(m->slots);
	free(m);
}

static struct slot *
idmap_find(struct slot *slots, size_t cap, const char *key)
{
	size_t i = (size_t)idmap_hash(key) & (cap - 1);

	while (slots[i].key != NULL && strcmp(slots[i].key, key) != 0)
		i = (i + 1) & (cap - 1);
	return &slots[i];
}

void *
idmap_get(const struct idmap *m, const char *key)
{
	struct slot *s = idmap_find(m->slots, m->cap, key);

	return s->key ? s->value : NULL;
}

static int
idmap_grow(struct idmap *m)
{
	size_t cap = m->cap * 2;
	struct slot *slots = calloc(cap, sizeof(*slots));

	if (slots == NULL)
		return -1;
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].key != NULL)
			*idmap_find(slots, cap, m->slots[i].key) = m->slots[i];
	free(m->slots);
	m->slots = slots;
	m->cap = cap;
	return 0;
}

int
idmap_put(struct idmap *m, const char *key, void *value)
{
	struct slot *s = idmap_find(m->slots, m->cap, key);

	if (s->key != NULL)
		return 1;
	if (m->n >= IDMAP_MAX)
		return -1;
	if ((m->n + 1) * 2 > m->cap) {
		if (idmap_grow(m) != 0)
			return -1;
		s = idmap_find(m->slots, m->cap, key);
	}
	s->key = strdup(key);
	if (s->key == NULL)
		return -1;
	s->value = value;
	m->n++;
	return 0;
}

size_t
idmap_count(const struct idmap *m)
{
	return m->n;
}
