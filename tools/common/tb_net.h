/* tb_net.h - the Internet checksum, for the frames the testbed writes itself (synthetic captures, raw SYNs). */
#ifndef MQTTIDS_TB_NET_H
#define MQTTIDS_TB_NET_H

#include <stddef.h>
#include <stdint.h>

/* RFC 1071 Internet checksum over p[0..n) plus sum, folded and complemented. */
uint16_t tb_inet_csum(const uint8_t *p, size_t n, uint32_t sum);

#endif
