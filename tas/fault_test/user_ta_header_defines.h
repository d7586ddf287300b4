#ifndef USER_TA_HEADER_DEFINES_H
#define USER_TA_HEADER_DEFINES_H

/* 3c0e9d0a-5d6c-4b4e-9c1a-2f0b7e6d5a41 */
#define TA_UUID \
  { 0x3c0e9d0a, 0x5d6c, 0x4b4e, { 0x9c, 0x1a, 0x2f, 0x0b, 0x7e, 0x6d, 0x5a, 0x41 } }
#define TA_FLAGS 0
#define TA_STACK_SIZE (16 * 1024)
#define TA_DATA_SIZE (32 * 1024)
#define TA_DESCRIPTION "teemu test TA: faults and misuse"

#endif
