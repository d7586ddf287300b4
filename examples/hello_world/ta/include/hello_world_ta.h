#ifndef TA_HELLO_WORLD_H
#define TA_HELLO_WORLD_H

#define TA_HELLO_WORLD_UUID \
  { 0x4b1b0b6e, 0x0bd4, 0x4f8c, { 0x9a, 0x37, 0x5a, 0x0c, 0x6e, 0x3e, 0x2a, 0x11 } }

/* p0 VALUE_INOUT: a is incremented. */
#define TA_HELLO_WORLD_CMD_INC_VALUE 0
/* p0 VALUE_INOUT: a is decremented. */
#define TA_HELLO_WORLD_CMD_DEC_VALUE 1

#endif
