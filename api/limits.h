/* limits.h - limits of the JSON-RPC API that the node enforces and clients check first (docs/API.md, "Limits")
 *
 * The limits of an entry's fields (label, service id, host, tags, ...) are
 * crypto/crypto.h's, checked by dr_entry_validate on both sides; these are
 * the ones of the API alone.
 */
#ifndef DR_LIMITS_H
#define DR_LIMITS_H

#define DR_RESOLVE_LIMIT_DEFAULT 100 /* records a resolve returns when it gives no limit */
#define DR_RESOLVE_LIMIT_MAX 1000    /* a resolve's limit: 1 to this */

#endif
