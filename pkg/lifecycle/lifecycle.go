// Package lifecycle runs a service's long-lived components and stops them in order: the one
// place a service starts goroutines for its parts, and the proof that each is waited for before
// what it uses (PostgreSQL, NATS) is closed.
//
// Components are grouped in stages. Every component of every stage starts at once; the stages
// stop in the order they were added, each waited for before the next is told to stop: the HTTP
// server before the consumer that feeds the engine, the engine before the background jobs.
// Stopping begins when the context given to Run ends or when a component fails.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Component is one long-lived part of a service. Run returns when ctx ends (after finishing what
// it must finish) or when it fails; a nil return before ctx ends means the part had nothing to do
// (a server that is switched off) and does not stop the others.
type Component struct {
	Name string
	Run  func(ctx context.Context) error
}

// Func makes a component of a function.
func Func(name string, run func(ctx context.Context) error) Component {
	return Component{Name: name, Run: run}
}

// Loop makes a component of a function that returns nothing and runs until ctx ends (the
// periodic jobs).
func Loop(name string, run func(ctx context.Context)) Component {
	return Component{Name: name, Run: func(ctx context.Context) error { run(ctx); return nil }}
}

// Group is an ordered list of stages. Its zero value is ready to use; it is run once.
type Group struct {
	stages [][]Component
	// Stopped, when not nil, is told each stage's name list after every component in it returned
	// (tests, logs).
	Stopped func(stage []string)
}

// Stage adds a stage: components that stop together, after the stages added before.
func (g *Group) Stage(cs ...Component) {
	g.stages = append(g.stages, cs)
}

// Run starts every component and returns once all of them returned: after ctx ended or one
// of them failed, the stages are stopped in order. The error joins every component's error
// (each prefixed with its name); context.Canceled returned by a stopping component is not one.
func (g *Group) Run(ctx context.Context) error {
	// failed ends the first stage early when a component fails; each later stage has its own
	// context, cancelled only once the stage before it is done.
	first, failed := context.WithCancel(ctx)
	defer failed()
	var (
		mu   sync.Mutex
		errs []error
	)
	type running struct {
		stop  context.CancelFunc
		wg    sync.WaitGroup
		names []string
	}
	stages := make([]*running, len(g.stages))
	for i, cs := range g.stages {
		sctx, stop := first, failed
		if i > 0 {
			sctx, stop = context.WithCancel(context.WithoutCancel(ctx))
		}
		r := &running{stop: stop}
		stages[i] = r
		for _, c := range cs {
			r.names = append(r.names, c.Name)
			r.wg.Add(1)
			go func() {
				defer r.wg.Done()
				err := c.Run(sctx)
				if err == nil || (sctx.Err() != nil && errors.Is(err, context.Canceled)) {
					return
				}
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s: %w", c.Name, err))
				mu.Unlock()
				failed() // a failing component stops the service
			}()
		}
	}
	<-first.Done()
	for i, r := range stages {
		if i > 0 {
			r.stop()
		}
		r.wg.Wait()
		if g.Stopped != nil {
			g.Stopped(r.names)
		}
	}
	for _, r := range stages {
		r.stop()
	}
	mu.Lock()
	defer mu.Unlock()
	return errors.Join(errs...)
}
