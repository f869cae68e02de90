module github.com/taskhook/taskhook/examples/receivers/go

go 1.26.7

require github.com/taskhook/taskhook/client v0.0.0

// Inside the Taskhook repository; in your own module, require a released version instead.
replace github.com/taskhook/taskhook/client => ../../../client
