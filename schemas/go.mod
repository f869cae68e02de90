module github.com/taskhook/taskhook/schemas

go 1.26
