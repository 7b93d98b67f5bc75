/* SPDX-License-Identifier: MIT */
/**
 * @file err.h
 * @brief Error codes returned by kalloc calls that do not return a pointer.
 *
 * Calls return 0 on success or one of these negative values. The numbers are Linux's errno
 * values, negated, so a kernel can pass them through; kalloc never reads or writes `errno`
 * (only the hosted malloc shim does).
 */
#ifndef KALLOC_ERR_H
#define KALLOC_ERR_H

#define KA_OK	   0   /**< success */
#define KA_ENOENT  -2  /**< no such backend / no such block */
#define KA_ENOMEM  -12 /**< not enough memory */
#define KA_EFAULT  -14 /**< address outside the allocator's memory, or not one it handed out */
#define KA_EBUSY   -16 /**< resource in use (e.g. frames already allocated) */
#define KA_EEXIST  -17 /**< memory overlaps memory already managed */
#define KA_EINVAL  -22 /**< invalid argument (alignment, size, range) */
#define KA_ERANGE  -34 /**< value out of the representable range */
#define KA_ENOTSUP -95 /**< operation not supported by this backend */

/**
 * @brief Short English name of an error code, for logs.
 * @param err 0 or a negative KA_E* code.
 * @return a static string, never NULL ("unknown error" for other values). O(1), thread safe.
 */
const char *ka_strerror(int err);

#endif /* KALLOC_ERR_H */
