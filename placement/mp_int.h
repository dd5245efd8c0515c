/* placement/mp_int.h — private to placement/: typed, bounded access to
 * decoded msgpack objects, shared by the command codec and the snapshot
 * codec. Every getter checks the type and the size and says which field
 * was wrong. */
#ifndef WP_PLACEMENT_MP_INT_H
#define WP_PLACEMENT_MP_INT_H

#include <msgpack.h>

#include "placement/placement.h"

/* Checks structure and limits (wp_msgpack_check), then unpacks into u
 * (msgpack_unpacked_init'ed by the caller) and checks off == len. */
int wp__mp_unpack(const void *buf, size_t len, size_t max_bytes, size_t max_count,
                  msgpack_unpacked *u, wp_err *err);
int wp__mp_array(const msgpack_object *o, size_t min, size_t max, const char *what,
                 wp_err *err);
int wp__mp_str(const msgpack_object *o, char *dst, size_t cap, const char *what, wp_err *err);
int wp__mp_u64(const msgpack_object *o, uint64_t *v, const char *what, wp_err *err);
int wp__mp_u32(const msgpack_object *o, uint32_t *v, const char *what, wp_err *err);
int wp__mp_double(const msgpack_object *o, double *v, const char *what, wp_err *err);
int wp__mp_bool(const msgpack_object *o, bool *v, const char *what, wp_err *err);
void wp__mp_pack_str(msgpack_packer *pk, const char *s);

/* A model profile is PROFILE_FIELDS values: name, size_bytes, the five
 * timing numbers and slots, typical in/out tokens (see codec.c). */
#define PROFILE_FIELDS 10
/* f points at PROFILE_FIELDS objects. */
int wp__place_unpack_profile(const msgpack_object *f, wp_model_profile *m, wp_err *err);
/* Packs an array of PROFILE_FIELDS. */
void wp__place_pack_profile(msgpack_packer *pk, const wp_model_profile *m);

#endif
