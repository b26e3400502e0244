/* demo.h - `mqttids demo`: the testbed with every attack kind, mqttids live on it, and a summary of what was detected. */
#ifndef MQTTIDS_DEMO_H
#define MQTTIDS_DEMO_H

/*
 * `mqttids demo [-o DIR] [--keep] [--loopback] [--scenario FILE]
 * [--expect FILE]`. argv[0] is the command's name ("demo"); the options
 * follow. Runs mqttids-testbed on the demo scenario with this executable as
 * the IDS (its alert lines appear as they happen), then prints the summary
 * table from DIR's labels.jsonl and eve.json against
 * tools/testbed/expected-alerts.json. Returns the process exit status: 0
 * when the run worked, every attack was detected and no alert was left
 * unexplained; 1 otherwise; 2 for a usage error; 130 when interrupted.
 */
int demo_main(int argc, char **argv);

#endif
