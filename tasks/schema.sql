-- The lyanna blog's tables that WorkerSettings reads and writes, as the blog (Tortoise ORM)
-- creates them. Used only by the tests and by scripts/demo to make a scratch database; the
-- worker never runs it, and it must not be run against the blog's own database.
-- Statements are separated by a ';' at the end of a line (the tests split on it). As in the
-- blog, post_tags and special_item have no index on post_id.

CREATE TABLE IF NOT EXISTS `posts` (
    `id` INT NOT NULL PRIMARY KEY AUTO_INCREMENT,
    `created_at` DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    `title` VARCHAR(100) NOT NULL UNIQUE,
    `author_id` INT NOT NULL,
    `slug` VARCHAR(100) NULL,
    `summary` VARCHAR(255) NOT NULL DEFAULT '',
    `can_comment` BOOL NOT NULL DEFAULT 1,
    `type` INT NOT NULL DEFAULT 0,
    `pageview` INT NOT NULL DEFAULT 0,
    `status` SMALLINT NOT NULL DEFAULT 0
) CHARACTER SET utf8mb4;

CREATE TABLE IF NOT EXISTS `github_users` (
    `id` INT NOT NULL PRIMARY KEY AUTO_INCREMENT,
    `created_at` DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    `gid` INT NOT NULL UNIQUE,
    `email` VARCHAR(100) NOT NULL UNIQUE DEFAULT '',
    `username` VARCHAR(100) NOT NULL UNIQUE,
    `picture` VARCHAR(100) NOT NULL DEFAULT '',
    `link` VARCHAR(100) NOT NULL DEFAULT ''
) CHARACTER SET utf8mb4;

CREATE TABLE IF NOT EXISTS `tags` (
    `id` INT NOT NULL PRIMARY KEY AUTO_INCREMENT,
    `created_at` DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    `name` VARCHAR(100) NOT NULL UNIQUE
) CHARACTER SET utf8mb4;

CREATE TABLE IF NOT EXISTS `post_tags` (
    `id` INT NOT NULL PRIMARY KEY AUTO_INCREMENT,
    `created_at` DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    `post_id` INT NOT NULL,
    `tag_id` INT NOT NULL,
    `updated_at` DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
) CHARACTER SET utf8mb4;

CREATE TABLE IF NOT EXISTS `special_item` (
    `id` INT NOT NULL PRIMARY KEY AUTO_INCREMENT,
    `created_at` DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    `post_id` INT NOT NULL,
    `index` SMALLINT NOT NULL,
    `special_id` SMALLINT NOT NULL
) CHARACTER SET utf8mb4;
