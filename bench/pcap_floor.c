/* pcap_floor.c - the libpcap read floor: the fastest a pcap reader can go on this machine.
 *
 * Usage: pcap_floor FILE
 *
 * Reads FILE with pcap_next_ex() and touches every packet (adds its first and last
 * captured byte to a checksum, so the loop cannot be optimised away and each packet's
 * data is really brought in from the page cache), then prints one line:
 *
 *   packets=N bytes=B wire_bytes=W seconds=S pps=P MBps=M checksum=C
 *
 * bytes is the sum of captured lengths (what every decoder must read), seconds is
 * the wall time of open+loop+close measured with CLOCK_MONOTONIC, MB is 10^6 bytes.
 * Anything that decodes the file does at least this work, so this is the upper bound
 * that bench/run.sh compares mqttids against. Exit status 1 if the file cannot be read
 * completely.
 */
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	char err[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const u_char *data;
	uint64_t packets = 0, bytes = 0, wire = 0, sum = 0;
	int rc;

	if (argc != 2) {
		fprintf(stderr, "usage: pcap_floor FILE\n");
		return 1;
	}
	double t0 = now_s();
	pcap_t *p = pcap_open_offline(argv[1], err);
	if (!p) {
		fprintf(stderr, "pcap_floor: %s\n", err);
		return 1;
	}
	while ((rc = pcap_next_ex(p, &h, &data)) == 1) {
		packets++;
		bytes += h->caplen;
		wire += h->len;
		if (h->caplen)
			sum += data[0] + data[h->caplen - 1];
	}
	if (rc == PCAP_ERROR)
		fprintf(stderr, "pcap_floor: %s: %s\n", argv[1], pcap_geterr(p));
	pcap_close(p);
	double secs = now_s() - t0;
	printf("packets=%llu bytes=%llu wire_bytes=%llu seconds=%.6f pps=%.0f MBps=%.1f checksum=%llu\n",
	       (unsigned long long)packets, (unsigned long long)bytes, (unsigned long long)wire, secs,
	       secs > 0 ? (double)packets / secs : 0.0, secs > 0 ? (double)bytes / secs / 1e6 : 0.0,
	       (unsigned long long)sum);
	return rc == PCAP_ERROR ? 1 : 0;
}
