/*
 * anomalies.c - the registry of anomaly event names: every name the
 * engine (decoder, stream, MQTT parser) and the detectors can emit, with
 * its layer and meaning. Rules are checked against it
 * (docs/rules.md §5.4), `mqttids rules check --list anomalies` prints it,
 * and debug builds check every emitted name against it, so that a name
 * added to the code and not here fails the tests.
 *
 * Keep the table sorted by name (byte order): lookups bisect it, and a
 * unit test checks the order.
 */
#include "event/anomalies.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/glob.h"

static const struct anomaly_name registry[] = {
	{ "broker_denied_publish", "authz",
	  "an MQTT 5 PUBACK or PUBREC with a reason code of 0x80 or more" },
	{ "broker_denied_subscribe", "authz",
	  "a SUBACK with a return/reason code of 0x80 or more" },
	{ "buffer_memcap_reached", "proto_parser",
	  "mqtt.buffer-memcap reached while buffering a message: the message is dropped" },
	{ "client_id_dollar", "proto_parser",
	  "a CONNECT client id that begins with '$', the broker's reserved prefix (fuzzers such as MQTTSA send '$' and '$topic')" },
	{ "client_id_empty", "proto_parser",
	  "an empty CONNECT client id where the version forbids it: MQTT 3.1, or 3.1.1 without clean session" },
	{ "client_id_new_address", "inventory",
	  "a known client id from an address it was never seen at" },
	{ "client_id_nonprintable", "proto_parser",
	  "a CONNECT client id holding C0 or C1 control characters" },
	{ "client_id_takeover", "detect",
	  "a CONNECT with a client id held by another open connection from a different client address" },
	{ "client_id_too_long", "proto_parser",
	  "a CONNECT client id longer than mqtt.client-id-limit (128 bytes; MQTT 3.1: 23)" },
	{ "connect_reserved_flag", "proto_parser",
	  "CONNECT flags reserved bit 0 set" },
	{ "device_recovered", "inactivity",
	  "a device reported silent or offline is seen again (when report-recovery is on)" },
	{ "device_silent", "inactivity",
	  "a device (generic or Zigbee2MQTT) sent nothing for longer than its timeout; raised by a timer, from the device's last address" },
	{ "double_connect", "proto_parser",
	  "a second CONNECT on one connection" },
	{ "duplicate_ack", "proto_parser",
	  "an answer whose packet id belongs to a transaction already completed, or a repeated CONNACK" },
	{ "duplicate_property", "proto_parser",
	  "an MQTT 5 property allowed once appears again" },
	{ "empty_topic", "proto_parser",
	  "PUBLISH with an empty topic name and no Topic Alias" },
	{ "ethernet.pkt_too_small", "decode",
	  "Ethernet frame shorter than its 14-byte header" },
	{ "eviction_pressure", "state",
	  "a bounded state table (trackers, flows, a detector's table) evicted entries for new keys; at most once per 60 s per table, and at end of input" },
	{ "fuzzing_sessions", "fuzz",
	  "a host whose MQTT sessions are repeatedly malformed or have odd client ids (3 in 60 s by default; sessions that only publish before CONNACK count 1 in 5)" },
	{ "hmac_missing", "integrity",
	  "mode hmac: the payload is not a JSON object, or has no well-formed trailing signature member" },
	{ "hmac_wrong", "integrity",
	  "mode hmac: the HMAC-SHA256 signature does not verify" },
	{ "invalid_connect_flags", "proto_parser",
	  "CONNECT will/password flag rules broken: will QoS or retain without will flag, will QoS 3, or password without user name before v5" },
	{ "invalid_protocol_name", "proto_parser",
	  "CONNECT protocol name is neither MQTT nor MQIsdp" },
	{ "invalid_protocol_version", "proto_parser",
	  "CONNECT protocol level not 3/4/5, or not consistent with the protocol name" },
	{ "invalid_qos_level", "proto_parser",
	  "QoS 3 in a PUBLISH/SUBSCRIBE/UNSUBSCRIBE fixed header" },
	{ "invalid_reason_code", "proto_parser",
	  "reason/return code not defined for the packet type and version: SUBACK/UNSUBACK codes, CONNACK, PUBACK..PUBCOMP, DISCONNECT/AUTH" },
	{ "invalid_subscription_options", "proto_parser",
	  "SUBSCRIBE options byte with reserved bits set, QoS 3, or v5 retain handling 3" },
	{ "invalid_topic_filter", "proto_parser",
	  "empty topic filter, or '+'/'#' not alone in its level or '#' not last, in a (UN)SUBSCRIBE" },
	{ "invalid_utf8", "proto_parser",
	  "an MQTT UTF-8 string (topic, client id, user name, ...) is not well-formed UTF-8" },
	{ "inventory_full", "inventory",
	  "a new device could not be stored: the inventory is full (once per run)" },
	{ "ipraw.invalid_ip_version", "decode",
	  "raw-IP link type frame whose first nibble is neither 4 nor 6" },
	{ "ipraw.pkt_too_small", "decode",
	  "empty frame on a raw-IP link type (DLT_RAW, 12, 14, 101)" },
	{ "ipv4.frag_invalid", "decode",
	  "an IPv4 fragment the defragmenter rejects: data past 64 KiB, a non-final fragment empty or not a multiple of 8, a conflicting end, or no fragment memory left" },
	{ "ipv4.frag_trunc", "decode",
	  "IPv4 fragment shorter in the capture than its total length says (cannot be reassembled)" },
	{ "ipv4.hlen_too_small", "decode",
	  "IPv4 IHL below 20 bytes, or total length smaller than the header length" },
	{ "ipv4.pkt_too_small", "decode",
	  "packet shorter than the 20-byte fixed IPv4 header" },
	{ "ipv4.trunc_pkt", "decode",
	  "captured bytes end before the IPv4 header (with options) that IHL declares" },
	{ "ipv4.wrong_ip_version", "decode",
	  "IPv4 header's version field is not 4" },
	{ "ipv6.exthdr_invalid_len", "decode",
	  "an IPv6 extension header's length is larger than what is left of the payload length" },
	{ "ipv6.exthdr_too_many", "decode",
	  "more than 16 chained IPv6 extension headers" },
	{ "ipv6.exthdr_trunc", "decode",
	  "an IPv6 extension header (hop-by-hop, routing, destination options, mobility, HIP, shim6, AH) runs past the captured data" },
	{ "ipv6.frag_hdr_trunc", "decode",
	  "IPv6 Fragment header truncated, or fewer than 8 bytes of payload length left for it" },
	{ "ipv6.frag_invalid", "decode",
	  "an IPv6 fragment the defragmenter rejects (as ipv4.frag_invalid)" },
	{ "ipv6.frag_trunc", "decode",
	  "IPv6 fragment shorter in the capture than its payload length says" },
	{ "ipv6.pkt_too_small", "decode",
	  "packet shorter than the 40-byte IPv6 header" },
	{ "ipv6.wrong_ip_version", "decode",
	  "IPv6 header's version field is not 6" },
	{ "key_missing", "integrity",
	  "mode key: the payload has no key member (or is not JSON)" },
	{ "key_wrong", "integrity",
	  "mode key: the key member is not the shared or device secret" },
	{ "link.unsupported", "decode",
	  "a frame of a link type the decoder does not support (the capture refuses such interfaces and files first)" },
	{ "mac_ip_changed", "inventory",
	  "a known address seen with a MAC it never had, where it had one before" },
	{ "malformed_traffic", "proto_parser",
	  "a message that cannot be decoded (field past the remaining length, bad property length, framing, version), or a remaining length longer than 4 bytes" },
	{ "misplaced_property", "proto_parser",
	  "an MQTT 5 property not allowed in this packet type" },
	{ "missing_ack", "proto_parser",
	  "a CONNECT, QoS 1/2 PUBLISH, SUBSCRIBE or UNSUBSCRIBE never answered before the connection closed (FIN/RST; not at mere end of capture)" },
	{ "missing_connect", "proto_parser",
	  "CONNACK without a preceding CONNECT" },
	{ "missing_publish", "proto_parser",
	  "PUBACK, PUBREC, PUBREL or PUBCOMP with no pending PUBLISH of that packet id" },
	{ "missing_subscribe", "proto_parser",
	  "SUBACK with no pending SUBSCRIBE of that packet id" },
	{ "missing_unsubscribe", "proto_parser",
	  "UNSUBACK with no pending UNSUBSCRIBE of that packet id" },
	{ "mqtt_resync_failed", "stream",
	  "after a gap or midstream pickup no MQTT message boundary found within mqtt.resync-limit bytes; that direction is no longer parsed" },
	{ "new_client_id", "inventory",
	  "a client id no inventory row has" },
	{ "new_ip", "inventory",
	  "a client address no inventory row has" },
	{ "new_mac", "inventory",
	  "a MAC no inventory row has (after learning; gateways excluded)" },
	{ "no_topics", "proto_parser",
	  "SUBSCRIBE/UNSUBSCRIBE without any topic filter" },
	{ "null.pkt_too_small", "decode",
	  "BSD null/loopback frame shorter than its 4-byte address-family header" },
	{ "overlong_length_encoding", "proto_parser",
	  "a variable byte integer (remaining length, property length) encoded in more bytes than needed" },
	{ "payload_unparsed", "telemetry",
	  "a payload on a telemetry topic could not be parsed/extracted (not JSON, field missing, not a number)" },
	{ "reassembly_seq_gap", "stream",
	  "bytes missing from the TCP stream (lost, not captured, or beyond the reassembly limits): the partial MQTT message is dropped and the parser resynchronises" },
	{ "replay", "integrity",
	  "mode hmac: a validly signed message replayed (duplicate, old counter, stale or future time)" },
	{ "reserved_flags", "proto_parser",
	  "fixed-header flag bits differ from those required for the packet type, or CONNACK acknowledge-flags reserved bits set" },
	{ "sll.pkt_too_small", "decode",
	  "Linux cooked capture (SLL v1) frame shorter than its 16-byte header" },
	{ "sll2.pkt_too_small", "decode",
	  "Linux cooked capture v2 (SLL2) frame shorter than its 20-byte header" },
	{ "tcp.hlen_invalid", "decode",
	  "TCP data offset gives a header length below 20 bytes or above the IP payload length" },
	{ "tcp.hlen_too_small", "decode",
	  "captured bytes end before the TCP header (with options) that the data offset declares" },
	{ "tcp.pkt_too_small", "decode",
	  "TCP segment shorter than the fixed 20-byte TCP header" },
	{ "too_many_properties", "proto_parser",
	  "more MQTT 5 properties than the configured cap; the rest are dropped" },
	{ "too_many_topics", "proto_parser",
	  "more (UN)SUBSCRIBE topics than the configured cap; the rest are dropped" },
	{ "too_many_transactions", "proto_parser",
	  "mqtt.max-tx unanswered transactions on one flow: the oldest is logged before its answer (reported once per flow)" },
	{ "topic_alias_zero", "proto_parser",
	  "MQTT 5 Topic Alias property with value 0" },
	{ "trailing_bytes", "proto_parser",
	  "bytes left over after the message body inside the remaining length" },
	{ "tx_memcap_reached", "proto_parser",
	  "mqtt.max-pending-total or mqtt.tx-memcap reached: the transaction is logged before its answer (once per flow)" },
	{ "unassigned_msg_type", "proto_parser",
	  "control packet of reserved type 0" },
	{ "unauthorised_publish", "authz",
	  "a client PUBLISHes to a topic it has no write grant for (the ACL file or authz policies)" },
	{ "unauthorised_subscribe", "authz",
	  "a client SUBSCRIBEs to at least one valid filter it may not read" },
	{ "unintroduced_message", "proto_parser",
	  "a PUBLISH, (UN)SUBSCRIBE, PINGREQ/RESP, DISCONNECT, AUTH or unmatched answer before CONNECT/CONNACK set up the session (once per direction)" },
	{ "unknown_device", "integrity",
	  "no key for the device: mode key without shared/device secret, or mode hmac without an HMAC key for it" },
	{ "unknown_property", "proto_parser",
	  "undefined MQTT 5 property identifier" },
	{ "utf8_null_character", "proto_parser",
	  "an MQTT UTF-8 string contains U+0000" },
	{ "value_jump", "telemetry",
	  "a reading far from the device and field's learned baseline (robust z-score above the sensitivity, confirmed)" },
	{ "value_out_of_range", "telemetry",
	  "a telemetry value outside the field's configured min/max" },
	{ "value_rate_exceeded", "telemetry",
	  "a telemetry value changed faster than the field's max-rate between two owner readings" },
	{ "value_spoofed", "telemetry",
	  "a device's telemetry published by a client id or address that does not own the device" },
	{ "value_stuck", "telemetry",
	  "a field that used to vary reports the exact same value for stuck-after seconds and stuck-samples readings" },
	{ "vlan.header_too_small", "decode",
	  "802.1Q/802.1ad VLAN tag truncated (fewer than 4 bytes)" },
	{ "vlan.too_many_layers", "decode",
	  "more than 3 stacked VLAN tags" },
	{ "wildcard_in_publish_topic", "proto_parser",
	  "PUBLISH topic name contains '+' or '#'" },
	{ "z2m_device_offline", "inactivity",
	  "a Zigbee2MQTT availability topic says the device is offline (bridge online)" },
	{ "zero_packet_id", "proto_parser",
	  "packet identifier 0 in a message that carries one (bit MQTT_ANOM_MISSING_MSG_ID, mqtt_parse.c:640)" },
};

#define REGISTRY_N (sizeof(registry) / sizeof(registry[0]))

size_t anomaly_count(void)
{
	return REGISTRY_N;
}

const struct anomaly_name *anomaly_get(size_t i)
{
	return i < REGISTRY_N ? &registry[i] : NULL;
}

const struct anomaly_name *anomaly_find(const char *name, size_t n)
{
	size_t lo = 0, hi = REGISTRY_N;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *k = registry[mid].name;
		size_t kn = strlen(k);
		int c = memcmp(name, k, n < kn ? n : kn);
		if (c == 0)
			c = n < kn ? -1 : n > kn ? 1 : 0;
		if (c == 0)
			return &registry[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

bool anomaly_glob_known(const char *glob)
{
	for (size_t i = 0; i < REGISTRY_N; i++)
		if (glob_match(glob, registry[i].name, strlen(registry[i].name)))
			return true;
	return false;
}

#ifndef NDEBUG
void anomaly_check(const char *name)
{
	if (anomaly_find(name, strlen(name)))
		return;
	fprintf(stderr, "mqttids: internal error: anomaly '%s' is not in the "
		"registry (src/event/anomalies.c)\n", name);
	abort();
}
#endif
