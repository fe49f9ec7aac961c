package main

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

func (b *bench) startBroker(ctx context.Context) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	args := []string{"broker", "--port", strconv.Itoa(port)}
	if !b.brokerInMemory {
		args = append(args, "--data-dir", filepath.Join(b.dir, "kafka"))
	}
	if b.partitions > 0 {
		args = append(args, "--partitions", strconv.Itoa(b.partitions))
		b.notef("Broker: %d partitions per topic.", b.partitions)
	}
	var pprofAddr string
	if b.profile != "" {
		pp, _ := freePort()
		pprofAddr = "127.0.0.1:" + strconv.Itoa(pp)
		args = append(args, "--pprof-addr", pprofAddr)
	}
	mp, err := freePort()
	if err != nil {
		return err
	}
	b.brokerMetrics = "http://127.0.0.1:" + strconv.Itoa(mp) + "/metrics"
	args = append(args, "--metrics-addr", "127.0.0.1:"+strconv.Itoa(mp))
	b.logf("starting the broker on :%d", port)
	if len(b.brokerEnv) > 0 {
		b.notef("Extra broker environment: %s.", strings.Join(b.brokerEnv, " "))
	}
	if b.broker, err = start("broker", b.bin, b.dir, b.brokerEnv, args...); err != nil {
		return err
	}
	b.broker.pprof = pprofAddr
	b.kafka = "127.0.0.1:" + strconv.Itoa(port)
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return waitTCP(wctx, b.broker, b.kafka)
}

func (b *bench) startServices(ctx context.Context, extra []string) error {
	b.services, b.urls = map[string]*proc{}, map[string]string{}
	for _, role := range roles {
		port, err := freePort()
		if err != nil {
			return err
		}
		env := []string{
			"BAUM_HTTP_ADDR=127.0.0.1:" + strconv.Itoa(port),
			"BAUM_DATABASE_URL=" + dbURL(b.postgres, b.prefix+"_"+role),
			"BAUM_CREATE_DATABASE=true",
			"BAUM_KAFKA_BROKERS=" + b.kafka,
			"BAUM_DATA_DIR=" + filepath.Join(b.dir, role),
		}
		var pprofAddr string
		if b.profile != "" {
			pp, _ := freePort()
			pprofAddr = "127.0.0.1:" + strconv.Itoa(pp)
			env = append(env, "BAUM_PPROF_ADDR="+pprofAddr)
		}
		env = append(append(env, b.env...), extra...)
		b.logf("starting %s on :%d", role, port)
		p, err := start(role, b.bin, b.dir, env, "serve", "--role", role)
		if err != nil {
			return err
		}
		p.pprof = pprofAddr
		b.services[role] = p
		b.urls[role] = "http://127.0.0.1:" + strconv.Itoa(port)
	}
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	for _, role := range roles {
		if err := waitReady(wctx, b.services[role], b.urls[role]); err != nil {
			return err
		}
	}
	return nil
}

func (b *bench) stopServices() {
	for _, role := range roles {
		if err := b.services[role].stop(60 * time.Second); err != nil {
			b.logf("%v", err)
		}
	}
}

func (b *bench) restartServices(ctx context.Context, extra []string) error {
	b.stopServices()
	return b.startServices(ctx, extra)
}

func (b *bench) stopAll() {
	if b.services != nil {
		b.stopServices()
		b.services = nil
	}
	if b.broker != nil {
		if err := b.broker.stop(30 * time.Second); err != nil {
			b.logf("%v", err)
		}
		b.broker = nil
	}
}

func (b *bench) serviceURLs() []string {
	var out []string
	for _, role := range roles {
		out = append(out, b.urls[role])
	}
	return out
}

func (b *bench) procs() []*proc {
	return []*proc{b.services["zeros"], b.services["ones"], b.broker}
}
