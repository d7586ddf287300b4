/* The shm-test TA: exercises shared memory paths. UUID f9b9acc0-806d-415c-bade-7aecc600e80f. */
#ifndef SHM_TEST_TA_H
#define SHM_TEST_TA_H

#define TA_SHM_TEST_UUID                                   \
  {                                                        \
    0xf9b9acc0, 0x806d, 0x415c, {                          \
      0xba, 0xde, 0x7a, 0xec, 0xc6, 0x00, 0xe8, 0x0f       \
    }                                                      \
  }

#define TA_SHM_TEST_CMD_SUM 0         /* p0 memref in; p1 value out: a/b = low/high of the sum; \
                                         p2 value in (optional): a = stack offset of the loop */
#define TA_SHM_TEST_CMD_FILL 1        /* p0 memref out; p1 value in a = seed */
#define TA_SHM_TEST_CMD_INC 2         /* p0 value inout: a += 1, b += 2 */
#define TA_SHM_TEST_CMD_NEED 3        /* p0 memref out; p1 value in a = required size */
#define TA_SHM_TEST_CMD_PANIC 4       /* panics */
#define TA_SHM_TEST_CMD_WAIT_CANCEL 5 /* p0 value in a = ms; cancellable wait */
#define TA_SHM_TEST_CMD_XOR 6         /* p0 memref inout; p1 value in a = key */

#endif
