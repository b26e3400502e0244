/* sensor_dash.c - the dashboard of mqttids-sensor: subscribes (again after every reconnect) and counts what arrives. */
#define _POSIX_C_SOURCE 200809L
#include "sensor.h"

#include <stdio.h>

/* Subscriptions are made per connection: the session is clean. */
static void sn_dash_on_connect(void *ud)
{
	struct sn_client *c = ud;
	for (unsigned i = 0; i < c->o->n_filters; i++)
		sn_subscribe(c, c->o->filters[i], c->o->qos);
}

void sn_dash_hook(struct sn_client *c)
{
	c->on_connect = sn_dash_on_connect;
	c->ud = c;
}

void sn_dash_finish(struct sn_client *c)
{
	printf("mqttids-sensor: %s: received %lu messages (%lu retained) on %u "
	       "filters, connects=%lu drops=%lu\n", c->id,
	       atomic_load(&c->received), atomic_load(&c->received_retained),
	       c->o->n_filters, atomic_load(&c->connects), atomic_load(&c->drops));
}
