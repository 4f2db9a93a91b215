/* idmap: strings (command ids, subjects) to values, as an open-addressing hash table; used to
 * find repeated ids in an input file and to match outcome events to the commands sent. */
#ifndef TMPROV_IDMAP_H
#define TMPROV_IDMAP_H

#include <stddef.h>

#define IDMAP_MAX (1u << 24) /* entries: far above any batch an operator sends at once */

struct idmap;

struct idmap *idmap_new(void);
/* Frees the table and its key copies; free_value (may be NULL) is called on every value. */
void idmap_free(struct idmap *m, void (*free_value)(void *));

/* The value stored under key, NULL when none. */
void *idmap_get(const struct idmap *m, const char *key);
/* Stores value under a copy of key. 0; 1 when key was there already (nothing changed); -1 when
 * out of memory or over IDMAP_MAX entries. */
int idmap_put(struct idmap *m, const char *key, void *value);
size_t idmap_count(const struct idmap *m);

#endif
