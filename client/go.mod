module github.com/taskhook/taskhook/client

go 1.26.7
